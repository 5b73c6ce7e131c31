// A fresh directory per test: ctest runs test cases as parallel processes, and files
// with fixed names in one shared temp folder would collide.
#pragma once

#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace bulwark::testing {

inline std::string UniqueTempDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
  for (char& c : name)
    if (c == '/') c = '_';
  const auto dir = std::filesystem::path(::testing::TempDir()) /
                   ("bulwark-" + std::to_string(::getpid()) + "-" + name);
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace bulwark::testing
