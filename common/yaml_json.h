// YAML documents read as JSON, so one strict JSON reader serves both a request body and a
// file an operator wrote, with the file's line numbers kept for error messages.
#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace bulwark {

// Scalars become integers, numbers, booleans or null where YAML spells them so, strings
// otherwise. `lines` (optional) maps each dotted path ("snapshot.k", "command[0]") to its
// 1-based line.
nlohmann::json YamlToJson(const YAML::Node& node, std::map<std::string, int>* lines = nullptr);

}  // namespace bulwark
