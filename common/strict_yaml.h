// Strict reading of YAML configs: every key must be known, every value must have the
// right type and range, and every error names the file, the line and the full key path
// ("tiny.yaml:7: model.d_model: must be an integer >= 8, got 'abc'").
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace bulwark {

// Thrown while reading; the loader at the module edge turns it into a Status.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One YAML mapping being read. Call Finish() after reading all known keys: any key that
// was not read is an error (a typo must never be silently ignored).
class StrictMap {
 public:
  // `source` names the file in messages; `path` is the dotted prefix of this mapping.
  StrictMap(YAML::Node node, std::string source, std::string path = "");

  bool Has(const std::string& key) const;
  int64_t Int(const std::string& key, int64_t fallback, int64_t min, int64_t max);
  int64_t RequiredInt(const std::string& key, int64_t min, int64_t max);
  double Double(const std::string& key, double fallback, double min, double max);
  std::string String(const std::string& key, const std::string& fallback,
                     const std::vector<std::string>& allowed = {});
  bool Bool(const std::string& key, bool fallback);
  std::vector<std::string> StringList(const std::string& key);
  // A nested mapping; missing gives an empty one (all defaults).
  StrictMap Map(const std::string& key);
  // A sequence of mappings; missing gives none.
  std::vector<StrictMap> MapList(const std::string& key);

  void Finish() const;

  [[noreturn]] void Fail(const std::string& key, const std::string& what) const;
  const std::string& source() const { return source_; }

 private:
  std::optional<YAML::Node> Get(const std::string& key);  // marks the key as read
  std::string Where(const YAML::Node& at) const;
  std::string FullKey(const std::string& key) const;

  YAML::Node node_;
  std::string source_;
  std::string path_;
  std::set<std::string> read_;
};

// Parses YAML text; syntax errors become ConfigError naming source and line.
YAML::Node ParseYaml(const std::string& text, const std::string& source);

}  // namespace bulwark
