#include "common/strict_json.h"

#include <cmath>

namespace bulwark {
namespace {

const nlohmann::json& EmptyObject() {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  return kEmpty;
}

}  // namespace

nlohmann::json ParseJson(const std::string& text) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw JsonError("body is not valid JSON (at byte " + std::to_string(e.byte) + ")");
  } catch (const nlohmann::json::exception& e) {  // e.g. a number too large for a double
    throw JsonError(std::string("body is not usable JSON: ") + e.what());
  }
}

StrictJson::StrictJson(const nlohmann::json& object, std::string path) : object_(object), path_(std::move(path)) {
  if (!object_.is_object()) {
    throw JsonError((path_.empty() ? std::string("body") : path_) + ": must be a JSON object, got " +
                    object_.type_name());
  }
}

std::string StrictJson::FullKey(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

void StrictJson::Fail(const std::string& key, const std::string& what) const {
  throw JsonError(FullKey(key) + ": " + what, FullKey(key));
}

bool StrictJson::Has(const std::string& key) const {
  auto it = object_.find(key);
  return it != object_.end() && !it->is_null();
}

const nlohmann::json* StrictJson::Get(const std::string& key) {
  read_.insert(key);
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string StrictJson::String(const std::string& key, const std::string& fallback) {
  const auto* v = Get(key);
  if (!v) return fallback;
  if (!v->is_string()) Fail(key, std::string("must be a string, got ") + v->type_name());
  return v->get<std::string>();
}

std::string StrictJson::RequiredString(const std::string& key) {
  if (!Has(key)) Fail(key, "is required");
  std::string s = String(key, "");
  if (s.empty()) Fail(key, "must not be empty");
  return s;
}

int64_t StrictJson::Int(const std::string& key, int64_t fallback, int64_t min, int64_t max) {
  const auto* v = Get(key);
  if (!v) return fallback;
  int64_t value = 0;
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      Fail(key, "is out of range");
    }
    value = v->get<int64_t>();
  } else {
    Fail(key, std::string("must be an integer, got ") + (v->is_number() ? "a fraction or an out-of-range number" : v->type_name()));
  }
  if (value < min || value > max) {
    Fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                  std::to_string(value));
  }
  return value;
}

int64_t StrictJson::RequiredInt(const std::string& key, int64_t min, int64_t max) {
  if (!Has(key)) Fail(key, "is required");
  return Int(key, 0, min, max);
}

double StrictJson::Number(const std::string& key, double fallback, double min, double max) {
  const auto* v = Get(key);
  if (!v) return fallback;
  if (!v->is_number()) Fail(key, std::string("must be a number, got ") + v->type_name());
  const double value = v->get<double>();
  if (!std::isfinite(value) || value < min || value > max) {
    Fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return value;
}

bool StrictJson::Bool(const std::string& key, bool fallback) {
  const auto* v = Get(key);
  if (!v) return fallback;
  if (!v->is_boolean()) Fail(key, std::string("must be true or false, got ") + v->type_name());
  return v->get<bool>();
}

std::vector<std::string> StrictJson::StringList(const std::string& key) {
  const auto* v = Get(key);
  std::vector<std::string> out;
  if (!v) return out;
  if (!v->is_array()) Fail(key, std::string("must be an array of strings, got ") + v->type_name());
  for (size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_string()) Fail(key + "[" + std::to_string(i) + "]", "must be a string");  // path names the item
    out.push_back((*v)[i].get<std::string>());
  }
  return out;
}

StrictJson StrictJson::Object(const std::string& key) {
  const auto* v = Get(key);
  return StrictJson(v ? *v : EmptyObject(), FullKey(key));
}

std::vector<StrictJson> StrictJson::ObjectList(const std::string& key) {
  const auto* v = Get(key);
  std::vector<StrictJson> out;
  if (!v) return out;
  if (!v->is_array()) Fail(key, std::string("must be an array, got ") + v->type_name());
  for (size_t i = 0; i < v->size(); ++i) out.emplace_back((*v)[i], FullKey(key) + "[" + std::to_string(i) + "]");
  return out;
}

nlohmann::json StrictJson::Raw(const std::string& key) {
  const auto* v = Get(key);
  return v ? *v : nlohmann::json();
}

void StrictJson::Finish() const {
  for (auto it = object_.begin(); it != object_.end(); ++it) {
    if (!read_.count(it.key())) throw JsonError(FullKey(it.key()) + ": unknown field", FullKey(it.key()));
  }
}

}  // namespace bulwark
