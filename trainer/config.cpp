#include "trainer/config.h"

#include <fstream>
#include <limits>
#include <sstream>

#include "common/digest.h"
#include "common/strict_yaml.h"

namespace bulwark::train {
namespace {

constexpr int64_t kIntMax = std::numeric_limits<int32_t>::max();

FaultKind ParseFaultKind(const std::string& name) {
  if (name == "crash") return FaultKind::kCrash;
  if (name == "hang") return FaultKind::kHang;
  if (name == "jitter") return FaultKind::kJitter;
  if (name == "nan") return FaultKind::kNan;
  if (name == "spike") return FaultKind::kSpike;
  return FaultKind::kSlow;
}

void ValidateShapes(StrictMap& m, const ModelConfig& c) {
  // The kernels work in lanes of 8 floats: keep every row length a multiple of 8.
  if (c.d_model % 8 != 0) m.Fail("d_model", "must be a multiple of 8, got " + std::to_string(c.d_model));
  if (c.d_model % c.n_heads != 0) {
    m.Fail("n_heads", "must divide model.d_model (" + std::to_string(c.d_model) + "), got " +
                          std::to_string(c.n_heads));
  }
  if ((c.d_model / c.n_heads) % 8 != 0) {
    m.Fail("n_heads", "d_model / n_heads must be a multiple of 8, got " + std::to_string(c.d_model / c.n_heads));
  }
}

TrainConfig Read(StrictMap& top) {
  TrainConfig c;
  {
    StrictMap m = top.Map("model");
    c.model.vocab_size = static_cast<int>(m.RequiredInt("vocab_size", 2, 65536));
    c.model.seq_len = static_cast<int>(m.RequiredInt("seq_len", 2, 65536));
    c.model.d_model = static_cast<int>(m.RequiredInt("d_model", 8, 65536));
    c.model.n_layers = static_cast<int>(m.RequiredInt("n_layers", 1, 1024));
    c.model.n_heads = static_cast<int>(m.RequiredInt("n_heads", 1, 1024));
    ValidateShapes(m, c.model);
    m.Finish();
  }
  {
    StrictMap m = top.Map("data");
    c.data.source = m.String("source", c.data.source, {"markov", "file"});
    c.data.path = m.String("path", "");
    if (c.data.source == "file" && c.data.path.empty()) m.Fail("path", "is required when data.source is 'file'");
    c.data.seed = static_cast<uint64_t>(m.Int("seed", static_cast<int64_t>(c.data.seed), 0, kIntMax));
    c.data.markov_branching = static_cast<int>(m.Int("markov_branching", c.data.markov_branching, 1, 64));
    if (c.data.markov_branching > c.model.vocab_size) {
      m.Fail("markov_branching", "must not exceed model.vocab_size");
    }
    m.Finish();
  }
  {
    StrictMap m = top.Map("optim");
    c.optim.lr = m.Double("lr", c.optim.lr, 0, 10);
    c.optim.warmup_steps = static_cast<int>(m.Int("warmup_steps", c.optim.warmup_steps, 0, kIntMax));
    c.optim.beta1 = m.Double("beta1", c.optim.beta1, 0, 0.999999);
    c.optim.beta2 = m.Double("beta2", c.optim.beta2, 0, 0.999999);
    c.optim.eps = m.Double("eps", c.optim.eps, 1e-30, 1);
    c.optim.weight_decay = m.Double("weight_decay", c.optim.weight_decay, 0, 10);
    m.Finish();
  }
  {
    StrictMap m = top.Map("train");
    c.steps = m.Int("steps", c.steps, 0, std::numeric_limits<int64_t>::max());
    c.micro_batch = static_cast<int>(m.Int("micro_batch", c.micro_batch, 1, 65536));
    c.init_seed = static_cast<uint64_t>(m.Int("init_seed", static_cast<int64_t>(c.init_seed), 0, kIntMax));
    m.Finish();
  }
  for (StrictMap& f : top.MapList("faults")) {
    FaultPoint p;
    p.kind = ParseFaultKind(f.String("kind", "", {"crash", "hang", "slow", "jitter", "nan", "spike"}));
    if (!f.Has("kind")) f.Fail("kind", "is required (crash, hang, slow, jitter, nan or spike)");
    p.step = f.RequiredInt("step", 1, std::numeric_limits<int64_t>::max());
    p.rank = static_cast<int>(f.RequiredInt("rank", 0, kIntMax));
    if (p.kind == FaultKind::kSlow || p.kind == FaultKind::kJitter) {
      p.percent = f.Double("percent", 0, 0, 100000);
      if (!f.Has("percent")) f.Fail("percent", "is required for a slow or jitter fault");
    }
    f.Finish();
    c.faults.push_back(p);
  }
  top.Finish();
  return c;
}

}  // namespace

const char* FaultKindName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kCrash: return "crash";
    case FaultKind::kHang: return "hang";
    case FaultKind::kSlow: return "slow";
    case FaultKind::kJitter: return "jitter";
    case FaultKind::kNan: return "nan";
    case FaultKind::kSpike: return "spike";
  }
  return "?";
}

uint64_t TrainConfig::Fingerprint() const {
  std::ostringstream s;
  s.precision(17);
  s << "model " << model.vocab_size << ' ' << model.seq_len << ' ' << model.d_model << ' ' << model.n_layers
    << ' ' << model.n_heads << " data " << data.source << ' ' << data.path << ' ' << data.seed << ' '
    << data.markov_branching << " optim " << optim.lr << ' ' << optim.warmup_steps << ' ' << optim.beta1 << ' '
    << optim.beta2 << ' ' << optim.eps << ' ' << optim.weight_decay << " train " << micro_batch << ' '
    << init_seed;
  return Digest64(s.str());
}

Result<TrainConfig> ParseTrainConfig(const std::string& yaml_text, const std::string& source) {
  try {
    StrictMap top(ParseYaml(yaml_text, source), source);
    return Read(top);
  } catch (const ConfigError& e) {
    return Status::Error(e.what());
  }
}

Result<TrainConfig> LoadTrainConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Error(path + ": cannot open config file");
  std::stringstream text;
  text << in.rdbuf();
  return ParseTrainConfig(text.str(), path);
}

Result<std::vector<FaultPoint>> ParseFaultSpec(const std::string& spec) {
  std::vector<FaultPoint> out;
  std::stringstream items(spec);
  std::string item;
  while (std::getline(items, item, ';')) {
    if (item.find_first_not_of(" \t") == std::string::npos) continue;
    std::stringstream fields(item);
    std::string kind;
    std::getline(fields, kind, ':');
    kind.erase(0, kind.find_first_not_of(" \t"));
    if (kind != "crash" && kind != "hang" && kind != "slow" && kind != "jitter" && kind != "nan" && kind != "spike") {
      return Status::Error("BULWARK_FAULTS: '" + item + "': kind must be crash, hang, slow, jitter, nan or spike");
    }
    FaultPoint p;
    p.kind = ParseFaultKind(kind);
    bool has_step = false, has_rank = false, has_percent = false;
    std::string field;
    while (std::getline(fields, field, ':')) {
      auto eq = field.find('=');
      std::string key = field.substr(0, eq);
      std::string value = eq == std::string::npos ? "" : field.substr(eq + 1);
      try {
        size_t used = 0;
        if (key == "step") {
          p.step = std::stoll(value, &used);
          has_step = p.step >= 1;
        } else if (key == "rank") {
          p.rank = std::stoi(value, &used);
          has_rank = p.rank >= 0;
        } else if (key == "node") {
          p.node = value;
          used = value.size();
          if (value.empty()) throw std::invalid_argument(value);
        } else if (key == "percent") {
          p.percent = std::stod(value, &used);
          has_percent = p.percent >= 0;
        } else {
          return Status::Error("BULWARK_FAULTS: '" + item + "': unknown field '" + key + "'");
        }
        if (used != value.size()) throw std::invalid_argument(value);
      } catch (const std::exception&) {
        return Status::Error("BULWARK_FAULTS: '" + item + "': bad value for " + key + ": '" + value + "'");
      }
    }
    if (!has_step) return Status::Error("BULWARK_FAULTS: '" + item + "': needs step=N with N >= 1");
    if (!has_rank && p.node.empty()) {
      return Status::Error("BULWARK_FAULTS: '" + item + "': needs rank=R with R >= 0, or node=NAME");
    }
    if (!has_rank) p.rank = -1;
    if ((p.kind == FaultKind::kSlow || p.kind == FaultKind::kJitter) && !has_percent) {
      return Status::Error("BULWARK_FAULTS: '" + item + "': a " + kind + " fault needs percent=X");
    }
    out.push_back(p);
  }
  return out;
}

}  // namespace bulwark::train
