#include "common/yaml_json.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>

namespace bulwark {
namespace {

nlohmann::json Scalar(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return text;  // quoted: always a string
  if (text == "true") return true;
  if (text == "false") return false;
  if (text == "null" || text == "~") return nullptr;
  if (!text.empty()) {
    char* end = nullptr;
    errno = 0;
    const long long i = std::strtoll(text.c_str(), &end, 10);
    if (*end == '\0' && errno == 0) return static_cast<int64_t>(i);
    const double d = std::strtod(text.c_str(), &end);
    if (*end == '\0' && (std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '-' || text[0] == '.')) {
      return d;
    }
  }
  return text;
}

nlohmann::json Convert(const YAML::Node& node, const std::string& path, std::map<std::string, int>* lines) {
  if (lines && node.Mark().line >= 0) (*lines)[path] = node.Mark().line + 1;
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (auto it = node.begin(); it != node.end(); ++it) {
        const std::string key = it->first.Scalar();
        const std::string child = path.empty() ? key : path + "." + key;
        out[key] = Convert(it->second, child, lines);
        if (lines && it->first.Mark().line >= 0) (*lines)[child] = it->first.Mark().line + 1;
      }
      return out;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (size_t i = 0; i < node.size(); ++i) {
        out.push_back(Convert(node[i], path + "[" + std::to_string(i) + "]", lines));
      }
      return out;
    }
    case YAML::NodeType::Scalar: return Scalar(node);
    default: return nullptr;
  }
}

}  // namespace

nlohmann::json YamlToJson(const YAML::Node& node, std::map<std::string, int>* lines) {
  return Convert(node, "", lines);
}

}  // namespace bulwark
