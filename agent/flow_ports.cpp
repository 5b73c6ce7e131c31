#include "agent/flow_ports.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace bulwark::agent {

using nlohmann::json;

namespace {

bool PlainName(const std::string& name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

}  // namespace

Result<json> StoreFlowPorts(const std::string& work_dir, const json& args) {
  const std::string job = args.at("job").get<std::string>();
  if (!PlainName(job)) return Status::Error("job '" + job + "' is not a plain name (letters, digits, '-', '_', '.')");
  const int generation = args.at("generation").get<int>();
  const json& flows = args.at("flows");
  if (!flows.is_array()) return Status::Error("flows must be an array");
  const std::filesystem::path dir = std::filesystem::path(work_dir) / "flow-ports";
  const std::filesystem::path path = dir / (job + ".json");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Error("cannot create " + dir.string() + ": " + ec.message());
  {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    const json held = json::parse(text.str(), nullptr, false);
    if (held.is_object() && held.value("job", "") == job && held.value("attempt", 0) == args.value("attempt", 0) &&
        held.value("generation", 0) > generation) {
      return json{{"path", path.string()}, {"ignored", "holds generation " + std::to_string(held.value("generation", 0))}};
    }
  }
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << args.dump(1) << "\n";
    if (!out.flush()) return Status::Error("cannot write " + tmp.string());
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::Error("cannot rename " + tmp.string() + ": " + ec.message());
  return json{{"path", path.string()}, {"flows", flows.size()}, {"generation", generation}};
}

}  // namespace bulwark::agent
