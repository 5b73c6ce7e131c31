// Strict reading of JSON request bodies, the twin of strict_yaml.h: unknown fields, wrong
// types and out-of-range values are errors that name the field's full path
// ("nics[1].speed_gbps: must be a number, got string").
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace bulwark {

class JsonError : public std::runtime_error {
 public:
  explicit JsonError(const std::string& message, std::string path = "")
      : std::runtime_error(message), path_(std::move(path)) {}
  // The dotted path of the offending field ("snapshot.k"), empty for the whole body.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Serializes without ever throwing: invalid UTF-8 (which can arrive in a URL path) is
// replaced by U+FFFD instead of aborting the dump.
inline std::string DumpJson(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Parses text; syntax errors become JsonError with the byte offset.
nlohmann::json ParseJson(const std::string& text);

class StrictJson {
 public:
  // Holds a reference: the object must outlive the reader (a temporary would not).
  explicit StrictJson(const nlohmann::json& object, std::string path = "");
  explicit StrictJson(nlohmann::json&& object, std::string path = "") = delete;

  bool Has(const std::string& key) const;
  std::string String(const std::string& key, const std::string& fallback);
  std::string RequiredString(const std::string& key);
  int64_t Int(const std::string& key, int64_t fallback, int64_t min, int64_t max);
  int64_t RequiredInt(const std::string& key, int64_t min, int64_t max);
  double Number(const std::string& key, double fallback, double min, double max);
  bool Bool(const std::string& key, bool fallback);
  std::vector<std::string> StringList(const std::string& key);
  StrictJson Object(const std::string& key);  // missing: an empty object
  std::vector<StrictJson> ObjectList(const std::string& key);
  // A field taken whole (checked by the caller).
  nlohmann::json Raw(const std::string& key);

  // Every field must have been read.
  void Finish() const;
  [[noreturn]] void Fail(const std::string& key, const std::string& what) const;

 private:
  const nlohmann::json* Get(const std::string& key);
  std::string FullKey(const std::string& key) const;

  const nlohmann::json& object_;
  std::string path_;
  std::set<std::string> read_;
};

}  // namespace bulwark
