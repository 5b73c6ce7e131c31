#include "controller/job.h"

#include "common/strict_json.h"
#include "controller/node.h"
#include "netplan/flows.h"

namespace bulwark::controller {

JobSpec ParseJobSpec(const nlohmann::json& body) {
  StrictJson in(body);
  JobSpec spec;
  spec.name = in.RequiredString("name");
  if (!IsValidNodeName(spec.name)) in.Fail("name", "'" + spec.name + "' is not a valid name (letters, digits, '-', '_', '.')");
  spec.command = in.StringList("command");
  if (spec.command.empty() || spec.command[0].empty()) in.Fail("command", "is required: the program and its arguments");
  spec.nodes = static_cast<int>(in.Int("nodes", 1, 1, 65536));
  spec.ranks_per_node = static_cast<int>(in.Int("ranks_per_node", 1, 1, 256));
  spec.nic_class = in.String("nic_class", "any");
  if (spec.nic_class != "any" && spec.nic_class != "ib" && spec.nic_class != "roce" && spec.nic_class != "ethernet") {
    in.Fail("nic_class", "must be one of {any, ib, roce, ethernet}, got '" + spec.nic_class + "'");
  }
  auto snapshot = in.Object("snapshot");
  spec.snapshot_every_steps = static_cast<int>(snapshot.Int("every_steps", 1, 1, 1 << 20));
  spec.snapshot_k = static_cast<int>(snapshot.Int("k", 4, 1, 64));
  spec.snapshot_m = static_cast<int>(snapshot.Int("m", 1, 0, 16));
  snapshot.Finish();
  spec.spares = static_cast<int>(in.Int("spares", 1, 0, 4096));
  spec.restart_budget = static_cast<int>(in.Int("restart_budget", 3, 0, 1000));
  spec.spare_policy = in.String("spare_policy", "wait");
  if (spec.spare_policy != "wait" && spec.spare_policy != "shrink") {
    in.Fail("spare_policy", "must be 'wait' or 'shrink', got '" + spec.spare_policy + "'");
  }
  spec.evict_stragglers = in.Bool("evict_stragglers", false);
  spec.loss_spike_factor = in.Number("loss_spike_factor", 0, 0, 1e6);
  if (spec.loss_spike_factor > 0 && spec.loss_spike_factor <= 1) {
    in.Fail("loss_spike_factor", "must be above 1 (a loss that many times the recent median), or 0 for NaN only");
  }
  auto env = in.Object("env");
  const auto env_json = body.value("env", nlohmann::json::object());
  for (const auto& [key, value] : env_json.items()) {
    if (key.empty() || key.find('=') != std::string::npos) env.Fail(key, "is not a valid environment variable name");
    spec.env[key] = env.RequiredString(key);
  }
  env.Finish();
  auto traffic = in.Object("traffic");
  spec.traffic.collective = traffic.String("collective", spec.traffic.collective);
  if (auto kind = netplan::CollectiveKindFromName(spec.traffic.collective); !kind.ok()) {
    traffic.Fail("collective", kind.status().message());
  }
  spec.traffic.bytes = traffic.Number("bytes", spec.traffic.bytes, 1, 1e15);
  spec.traffic.channels_per_nic = static_cast<int>(traffic.Int("channels_per_nic", 2, 1, 64));
  spec.traffic.stages = static_cast<int>(traffic.Int("stages", 1, 1, 65536));
  traffic.Finish();
  if (body.contains("model")) {
    auto model = in.Object("model");
    ModelSpec& m = spec.model;
    m.set = true;
    m.pipeline_stages = static_cast<int>(model.Int("pipeline_stages", 1, 1, 4096));
    m.layers = static_cast<int>(model.Int("layers", m.layers, 1, 1 << 16));
    m.hidden = static_cast<int>(model.Int("hidden", m.hidden, 1, 1 << 20));
    m.seq_len = static_cast<int>(model.Int("seq_len", m.seq_len, 1, 1 << 24));
    m.micro_batches = static_cast<int>(model.Int("micro_batches", m.micro_batches, 1, 1 << 16));
    m.micro_batch_size = static_cast<int>(model.Int("micro_batch_size", m.micro_batch_size, 1, 1 << 16));
    m.gpu_tflops = model.Number("gpu_tflops", m.gpu_tflops, 1e-3, 1e6);
    if (spec.nodes % m.pipeline_stages != 0) {
      model.Fail("pipeline_stages", std::to_string(m.pipeline_stages) + " stages do not divide the job's " +
                                        std::to_string(spec.nodes) + " nodes into equal data-parallel replicas");
    }
    if (m.layers < m.pipeline_stages) {
      model.Fail("layers", std::to_string(m.layers) + " layers for " + std::to_string(m.pipeline_stages) +
                               " stages: every stage needs one");
    }
    model.Finish();
  }
  in.Finish();
  return spec;
}

nlohmann::json ToJson(const JobSpec& spec) {
  nlohmann::json j = {{"name", spec.name},
          {"command", spec.command},
          {"nodes", spec.nodes},
          {"ranks_per_node", spec.ranks_per_node},
          {"nic_class", spec.nic_class},
          {"snapshot", {{"every_steps", spec.snapshot_every_steps}, {"k", spec.snapshot_k}, {"m", spec.snapshot_m}}},
          {"spares", spec.spares},
          {"restart_budget", spec.restart_budget},
          {"spare_policy", spec.spare_policy},
          {"evict_stragglers", spec.evict_stragglers},
          {"loss_spike_factor", spec.loss_spike_factor},
          {"env", spec.env},
          {"traffic",
           {{"collective", spec.traffic.collective},
            {"bytes", spec.traffic.bytes},
            {"channels_per_nic", spec.traffic.channels_per_nic},
            {"stages", spec.traffic.stages}}}};
  if (spec.model.set) {
    const ModelSpec& m = spec.model;
    j["model"] = {{"pipeline_stages", m.pipeline_stages}, {"layers", m.layers}, {"hidden", m.hidden},
                  {"seq_len", m.seq_len}, {"micro_batches", m.micro_batches}, {"micro_batch_size", m.micro_batch_size},
                  {"gpu_tflops", m.gpu_tflops}};
  }
  return j;
}

nlohmann::json ToJson(const JobRecord& job) {
  return {{"id", job.id},
          {"spec", ToJson(job.spec)},
          {"state", job.state},
          {"reason", job.reason},
          {"created_ms", job.created_ms},
          {"updated_ms", job.updated_ms},
          {"placement", job.placement},
          {"stage_layers", job.stage_layers},
          {"attempt", job.attempt},
          {"restarts", job.restarts},
          {"recovery", job.recovery ? ToJson(*job.recovery) : nlohmann::json()},
          {"recoveries", job.recoveries},
          {"anomalies", job.anomalies},
          {"skip_batches", job.skip_batches},
          {"result", job.result}};
}

JobRecord JobRecordFromJson(const nlohmann::json& j) {
  JobRecord job;
  job.id = j.at("id").get<std::string>();
  job.spec = ParseJobSpec(j.at("spec"));
  job.state = j.at("state").get<std::string>();
  job.reason = j.at("reason").get<std::string>();
  job.created_ms = j.at("created_ms").get<int64_t>();
  job.updated_ms = j.at("updated_ms").get<int64_t>();
  // Jobs stored before placement existed lack the fields below.
  job.placement = j.value("placement", std::vector<std::string>{});
  job.stage_layers = j.value("stage_layers", std::vector<int>{});
  job.attempt = j.value("attempt", 0);
  job.restarts = j.value("restarts", 0);
  if (j.contains("recovery") && j["recovery"].is_object()) job.recovery = RecoveryFromJson(j["recovery"]);
  job.recoveries = j.value("recoveries", nlohmann::json::array());
  job.result = j.value("result", nlohmann::json::object());
  job.anomalies = j.value("anomalies", nlohmann::json::array());
  job.skip_batches = j.value("skip_batches", std::vector<int64_t>{});
  return job;
}

}  // namespace bulwark::controller
