#include "common/strict_yaml.h"

#include <cmath>

namespace bulwark {

YAML::Node ParseYaml(const std::string& text, const std::string& source) {
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(source + ":" + std::to_string(e.mark.line + 1) + ": YAML syntax error: " + e.msg);
  }
}

StrictMap::StrictMap(YAML::Node node, std::string source, std::string path)
    : node_(std::move(node)), source_(std::move(source)), path_(std::move(path)) {
  if (node_ && !node_.IsNull() && !node_.IsMap()) {
    throw ConfigError(Where(node_) + (path_.empty() ? "top level" : path_) + ": must be a mapping");
  }
}

std::string StrictMap::Where(const YAML::Node& at) const {
  if (at && at.Mark().line >= 0) return source_ + ":" + std::to_string(at.Mark().line + 1) + ": ";
  return source_ + ": ";
}

std::string StrictMap::FullKey(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

void StrictMap::Fail(const std::string& key, const std::string& what) const {
  const YAML::Node& self = node_;
  YAML::Node at = (self.IsMap() && self[key]) ? self[key] : self;
  throw ConfigError(Where(at) + FullKey(key) + ": " + what);
}

bool StrictMap::Has(const std::string& key) const {
  const YAML::Node& self = node_;
  return self.IsDefined() && self.IsMap() && self[key] && !self[key].IsNull();
}

std::optional<YAML::Node> StrictMap::Get(const std::string& key) {
  read_.insert(key);
  if (!Has(key)) return std::nullopt;
  const YAML::Node& self = node_;  // const lookup: never inserts the key
  return self[key];
}

namespace {
std::string Scalar(const YAML::Node& n) { return n.IsScalar() ? n.Scalar() : std::string("<not a scalar>"); }
}  // namespace

int64_t StrictMap::RequiredInt(const std::string& key, int64_t min, int64_t max) {
  if (!Has(key)) Fail(key, "is required");
  return Int(key, 0, min, max);
}

int64_t StrictMap::Int(const std::string& key, int64_t fallback, int64_t min, int64_t max) {
  auto n = Get(key);
  if (!n) return fallback;
  int64_t v = 0;
  std::string text = Scalar(*n);
  try {
    size_t used = 0;
    v = std::stoll(text, &used, 10);  // decimal, as YAML 1.2 reads 010
    if (used != text.size()) throw std::invalid_argument(text);
  } catch (const std::exception&) {
    Fail(key, "must be an integer, got '" + text + "'");
  }
  if (v < min || v > max) {
    Fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + text);
  }
  return v;
}

double StrictMap::Double(const std::string& key, double fallback, double min, double max) {
  auto n = Get(key);
  if (!n) return fallback;
  double v = 0;
  std::string text = Scalar(*n);
  try {
    size_t used = 0;
    v = std::stod(text, &used);
    if (used != text.size()) throw std::invalid_argument(text);
  } catch (const std::exception&) {
    Fail(key, "must be a number, got '" + text + "'");
  }
  if (!std::isfinite(v) || v < min || v > max) {
    Fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + text);
  }
  return v;
}

std::string StrictMap::String(const std::string& key, const std::string& fallback,
                              const std::vector<std::string>& allowed) {
  auto n = Get(key);
  if (!n) return fallback;
  if (!n->IsScalar()) Fail(key, "must be a string");
  std::string v = n->Scalar();
  if (!allowed.empty()) {
    bool found = false;
    std::string list;
    for (const auto& a : allowed) {
      found = found || a == v;
      list += (list.empty() ? "" : ", ") + a;
    }
    if (!found) Fail(key, "must be one of {" + list + "}, got '" + v + "'");
  }
  return v;
}

bool StrictMap::Bool(const std::string& key, bool fallback) {
  auto n = Get(key);
  if (!n) return fallback;
  const std::string text = Scalar(*n);
  if (text == "true") return true;
  if (text == "false") return false;
  Fail(key, "must be true or false, got '" + text + "'");
}

std::vector<std::string> StrictMap::StringList(const std::string& key) {
  auto n = Get(key);
  std::vector<std::string> out;
  if (!n) return out;
  if (!n->IsSequence()) Fail(key, "must be a list of strings");
  for (size_t i = 0; i < n->size(); ++i) {
    if (!(*n)[i].IsScalar()) Fail(key, "item " + std::to_string(i) + " must be a string");
    out.push_back((*n)[i].Scalar());
  }
  return out;
}

StrictMap StrictMap::Map(const std::string& key) {
  auto n = Get(key);
  if (n && !n->IsMap()) Fail(key, "must be a mapping");
  return StrictMap(n ? *n : YAML::Node(), source_, FullKey(key));
}

std::vector<StrictMap> StrictMap::MapList(const std::string& key) {
  auto n = Get(key);
  std::vector<StrictMap> out;
  if (!n) return out;
  if (!n->IsSequence()) Fail(key, "must be a list");
  for (size_t i = 0; i < n->size(); ++i) {
    out.emplace_back((*n)[i], source_, FullKey(key) + "[" + std::to_string(i) + "]");
  }
  return out;
}

void StrictMap::Finish() const {
  if (!node_ || !node_.IsMap()) return;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    std::string key = it->first.as<std::string>();
    if (!read_.count(key)) {
      throw ConfigError(Where(it->first) + FullKey(key) + ": unknown key");
    }
  }
}

}  // namespace bulwark
