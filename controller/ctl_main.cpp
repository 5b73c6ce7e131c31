// bulwarkctl: the operator's CLI over the controller's REST API, and the local cluster.
// Exit codes scripts can rely on:
//   0 done   1 refused by the controller (conflict, bad request, server error) or failed
//   2 usage  3 controller unreachable   4 not found   5 unauthorized
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/http_client.h"
#include "common/strict_json.h"
#include "common/token.h"
#include "common/yaml_json.h"
#include "controller/ctl_cluster.h"
#include "controller/ctl_inject.h"
#include "controller/ctl_placement.h"
#include "controller/ctl_plan.h"
#include "controller/ctl_scenario.h"
#include "controller/injection.h"
#include "controller/ctl_table.h"
#include "controller/job.h"
#include "diagnostics/trace.h"

namespace bulwark::ctl {
namespace {

using nlohmann::json;

enum Exit { kOk = 0, kRefused = 1, kUsage = 2, kUnreachable = 3, kNotFound = 4, kUnauthorized = 5 };

const char* kUsageText = R"(usage: bulwarkctl [--controller URL] [--token-file FILE] [--dir DIR] [--json] COMMAND

Cluster:
  status                          cluster summary
  nodes                           every node: role, health, heartbeat, failure domain
  node NAME                       one node in detail, with its recent commands
  drain|undrain NAME [--reason T] stop/allow placing new work on a node
  isolate NAME [--reason T]       fence a node off
  readmit NAME [--as spare] [--reason T]
  command NAME KIND [--args JSON] [--wait]
                                  run self_check, report_status, start_ranks or stop_ranks on a node's agent
  jobs | job ID | job submit FILE.yaml | job cancel ID
                                  a job: its nodes, its state, and every recovery's timeline
  recover JOB [--reason T]        restart a running job from its recovery point in peers' memory
  incidents | incident ID         verdicts, the nodes they blame, and how the self-checks settled them
  diag NAME [--mpi-with N1,N2]    run a node's self-checks now (with round trips to the other agents);
                                  the MPI check spans NAME and the named nodes (default: 2 ranks on NAME)
  replay TRACE.jsonl [--hang-ms MS] [--min-slowdown-percent P] [--min-lost-percent P]
                                  replay a recorded diagnosis trace offline and print its verdicts
  events [--since ID] [--limit N] [--follow]

Fault injection (each one recorded as events; see `injections`):
  inject KIND [--node N] [--job J] [--rank R] [--for DURATION] [--percent P] [--leave SIZE]
              [--delay D] [--rate R] [--loss P] [--period D] [--down D]
                                  on a node: kill-rank, kill-node (ranks, memory and agent), hang-rank (SIGSTOP),
                                  slow-rank (stopped P/(100+P) of the time; default P 100), corrupt-fragment
                                  (a parity fragment N holds); on the controller: fill-disk (its database's
                                  filesystem, leaving SIZE), kill-controller (local cluster: down --for, default 2s);
                                  hang/slow/fill last --for (30s, 2m; default until healed);
                                  on a node's link (cluster up --netns): slow-link (--delay 50ms, --rate 10mbit),
                                  lossy-link (--loss 10, in percent), partition-node (needs --for), flap-link
                                  (down --down 2s of every --period 10s), each way on the node's interface
  heal ID                         end a lasting injection now
  scenario run FILE [--dir D] [--out F.json] [--keep]
                                  run a fault scenario (tests/scenarios/) on a fresh local cluster: a table
                                  per fault (verdict, culprit, detection, MTTR, steps lost), ETTR, pass/fail
  injections | injection ID       what was injected, where, and what it did

Traffic planning (see the README's "Traffic planning"):
  plan traffic --topology T.yaml --job J.yaml [--flows]
                                  offline: plan a collective's flows on a leaf-spine fabric: max load over
                                  the spraying bound, ECMP's load over the plan, predicted completion times;
                                  --flows lists every flow's spines and source ports
  plan placement --cluster C.yaml --job J.yaml
                                  offline: place a job with a model: by NIC (data-parallel groups inside one
                                  NIC class, stages across classes, layers by speed) next to rank order:
                                  the mapping, the layer split and the modelled iteration time
  plan job ID [--node N]          the controller's plan for a job (made at each launch, remade when a
                                  fabric link goes down or up), with --node the flows that node sends
  fabric                          the controller's fabric topology and its links down
  fabric link-down|link-up LEAF SPINE [--reason T]
                                  report a leaf-spine link down or back: running jobs are replanned

Local cluster (a controller and agents as processes on this machine):
  cluster up [--nodes N] [--spares S] [--nodes-per-rack R] [--heartbeat-ms MS] [--local-hang-ms MS] [--hang-ms MS]
             [--missed-beats N] [--restart-grace-ms MS] [--snapshot-k K] [--snapshot-m M] [--dir DIR]
             [--nic-classes LIST] the NIC class each node reports, workers then spares, the list repeated
                                (ib,ethernet: node-01 ib, node-02 ethernet, ...): a mixed cluster for placement
             [--db-size SIZE]   the database on a filesystem of its own, for fill-disk (root)
             [--netns]          every node in a network namespace of its own, joined by a bridge:
                                real links for link faults (root; where not allowed it says why and runs on loopback)
  cluster status [--dir DIR]
  cluster down [--dir DIR]

The controller comes from --controller, $BULWARK_CONTROLLER, or the local cluster in
--dir / $BULWARK_CLUSTER_DIR (default ./bulwark-cluster). The operator token comes from
--token-file or $BULWARK_TOKEN_FILE (or the local cluster); never from the command line.
Exit codes: 0 ok, 1 refused/failed, 2 usage, 3 unreachable, 4 not found, 5 unauthorized.
)";

struct Options {
  std::string controller;
  std::string token_file;
  std::string dir;
  bool json_output = false;
  std::vector<std::string> args;              // positional
  std::map<std::string, std::string> flags;   // --name value
  std::map<std::string, bool> switches;       // --name
};

int Usage(const std::string& problem) {
  std::fprintf(stderr, "bulwarkctl: %s\n\n%s", problem.c_str(), kUsageText);
  return kUsage;
}

class Api {
 public:
  Api(const std::string& url, const std::string& token) : client_(url, token, 10000) {}

  // Sends a request; on success fills *out and returns kOk, else prints why and returns the exit code.
  int Call(const std::string& method, const std::string& path, const json& body, json* out, long timeout_ms = -1) {
    auto r = client_.Send(method, path, body.is_null() ? "" : body.dump(), timeout_ms);
    if (!r.ok()) {
      std::fprintf(stderr, "bulwarkctl: cannot reach the controller: %s\n", r.status().message().c_str());
      return kUnreachable;
    }
    json parsed = json::parse(r->body, nullptr, false);
    if (r->status >= 200 && r->status < 300) {
      *out = parsed.is_discarded() ? json() : parsed;
      return kOk;
    }
    const std::string message = !parsed.is_discarded() && parsed.contains("error") ? parsed["error"].get<std::string>() : r->body;
    std::fprintf(stderr, "bulwarkctl: %s (HTTP %ld)\n", message.c_str(), r->status);
    if (r->status == 401) return kUnauthorized;
    if (r->status == 404) return kNotFound;
    return kRefused;
  }

 private:
  http::Client client_;
};

std::string Str(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return "";
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

std::string Nics(const json& node) {
  std::string out;
  for (const auto& n : node["nics"]) {
    char speed[32];
    std::snprintf(speed, sizeof(speed), "%g", n["speed_gbps"].get<double>());
    out += (out.empty() ? "" : ",") + n["name"].get<std::string>() + ":" + n["type"].get<std::string>() + "/" + speed + "G";
  }
  return out.empty() ? "-" : out;
}

void PrintNodes(const json& nodes) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& n : nodes) {
    rows.push_back({n["name"], n["role"], n["health"], n["drained"].get<bool>() ? "yes" : "no",
                    n["online"].get<bool>() ? Ago(n["heartbeat_age_ms"].get<long long>()) : "offline",
                    Str(n["failure_domain"], "rack") + "/" + Str(n["failure_domain"], "leaf"), Nics(n),
                    std::to_string(n["gpus"].get<int>()), Str(n, "reason")});
  }
  std::printf("%s", RenderTable({"NODE", "ROLE", "HEALTH", "DRAINED", "HEARTBEAT", "RACK/LEAF", "NICS", "GPUS", "REASON"}, rows).c_str());
}

void PrintEvent(const json& e) {
  std::string what;
  for (auto it = e.begin(); it != e.end(); ++it) {
    if (it.key() == "id" || it.key() == "time_ms" || it.key() == "kind") continue;
    what += (what.empty() ? "" : " ") + it.key() + "=" + (it->is_string() ? it->get<std::string>() : it->dump());
  }
  std::printf("%6llu  %s  %-20s %s\n", e["id"].get<unsigned long long>(), IsoTime(e["time_ms"].get<int64_t>()).c_str(),
              e["kind"].get<std::string>().c_str(), what.c_str());
}

int Status(Api& api, const Options& o) {
  json s;
  if (int rc = api.Call("GET", "/v1/cluster", nullptr, &s)) return rc;
  if (o.json_output) return std::printf("%s\n", s.dump(2).c_str()), kOk;
  const auto& n = s["nodes"];
  std::printf("Controller %s: %s nodes (%s online)\n", Str(s, "controller_instance").c_str(), Str(n, "total").c_str(),
              Str(n, "online").c_str());
  std::printf("%s", RenderTable({"HEALTHY", "SUSPECT", "ISOLATED", "LOST", "DRAINED", "SPARES (READY)", "JOBS", "INCIDENTS", "LAST EVENT"},
                                {{Str(n, "healthy"), Str(n, "suspect"), Str(n, "isolated"), Str(n, "lost"), Str(n, "drained"),
                                  Str(n, "spares") + " (" + Str(n, "spares_available") + ")", Str(s["jobs"], "total"),
                                  Str(s["incidents"], "total"), Str(s, "last_event_id")}})
                        .c_str());
  return kOk;
}

int Events(Api& api, const Options& o) {
  uint64_t since = o.flags.count("since") ? std::stoull(o.flags.at("since")) : 0;
  const std::string limit = o.flags.count("limit") ? o.flags.at("limit") : "1000";
  const bool follow = o.switches.count("follow");
  do {
    json page;
    const std::string wait = follow ? "&wait_ms=25000" : "";
    if (int rc = api.Call("GET", "/v1/events?since=" + std::to_string(since) + "&limit=" + limit + wait, nullptr, &page, 35000)) {
      if (rc != kUnreachable || !follow) return rc;
      std::this_thread::sleep_for(std::chrono::seconds(1));  // the controller restarts: keep following
      continue;
    }
    for (const auto& e : page["events"]) {
      if (o.json_output) {
        std::printf("%s\n", e.dump().c_str());
      } else {
        PrintEvent(e);
      }
      since = e["id"].get<uint64_t>();
    }
    std::fflush(stdout);
  } while (follow);
  return kOk;
}

// A job for people: where it runs, its state, and each recovery as a timeline from the
// fault, phase by phase, with the time to repair split the way it is measured.
void PrintJob(const json& job) {
  std::printf("%s (%s): %s — %s\n", Str(job, "id").c_str(), Str(job["spec"], "name").c_str(), Str(job, "state").c_str(),
              Str(job, "reason").c_str());
  std::string nodes;
  for (const auto& n : job.value("placement", json::array())) nodes += " " + n.get<std::string>();
  std::printf("  nodes:%s (attempt %d, restarts %d of %d)\n", nodes.empty() ? " none yet" : nodes.c_str(),
              job.value("attempt", 0), job.value("restarts", 0), job["spec"].value("restart_budget", 0));
  if (job.contains("stage_layers") && !job["stage_layers"].empty()) {  // placed by NIC (a model job)
    std::string layers;
    for (const json& l : job["stage_layers"]) layers += (layers.empty() ? "" : ",") + l.dump();
    std::printf("  placed by NIC: %zu pipeline stages in rank order above, layers %s\n", job["stage_layers"].size(),
                layers.c_str());
  }
  json recoveries = job.value("recoveries", json::array());
  if (job.value("recovery", json()).is_object()) recoveries.push_back(job["recovery"]);
  int n = 0;
  for (const auto& r : recoveries) {
    const bool open = &r == &recoveries.back() && job.value("recovery", json()).is_object();
    std::printf("  recovery %d%s (%s%s): %s\n", ++n, open ? ", in progress" : "", Str(r, "trigger").c_str(),
                Str(r, "incident").empty() ? "" : (", " + Str(r, "incident")).c_str(), Str(r, "reason").c_str());
    const int64_t fault = r.value("fault_ms", int64_t{0});
    std::printf("    %+8lld ms  fault\n", 0LL);
    std::printf("    %+8lld ms  verdict: recovery decided\n", static_cast<long long>(r.value("detected_ms", fault) - fault));
    for (const auto& m : r.value("marks", json::array())) {
      std::printf("    %+8lld ms  %s\n", static_cast<long long>(m.value("time_ms", fault) - fault), Str(m, "what").c_str());
    }
    if (open && !Str(r, "waiting_for").empty()) std::printf("    waiting for %s\n", Str(r, "waiting_for").c_str());
    const json mttr = r.value("mttr_ms", json::object());
    std::string split;
    for (const char* phase : {"detect", "isolate", "relaunch", "restore", "first_step"}) {
      if (mttr.contains(phase)) split += std::string(split.empty() ? "" : ", ") + phase + " " + mttr[phase].dump() + " ms";
    }
    if (mttr.contains("total")) std::printf("    time to repair %s ms: %s\n", mttr["total"].dump().c_str(), split.c_str());
  }
  for (const auto& a : job.value("anomalies", json::array())) {
    std::printf("  anomaly (%s): %s at step %s; rolled back to step %s from %s, skipped batches %s\n", Str(a, "incident").c_str(),
                Str(a, "anomaly").c_str(), a.value("step", json()).dump().c_str(), a.value("rolled_back_to", json()).dump().c_str(),
                Str(a, "from").c_str(), a.value("skipped_batches", json::array()).dump().c_str());
  }
  const json last = job.value("result", json::object()).value("last", json());
  if (last.is_object()) std::printf("  last step %s, digest %s\n", last.value("step", json()).dump().c_str(), Str(last, "digest").c_str());
}

int JobSubmit(Api& api, const Options& o, const std::string& path) {
  std::ifstream in(path);
  if (!in) return Usage("cannot read job file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::map<std::string, int> lines;
  json body;
  try {
    body = YamlToJson(YAML::Load(ss.str()), &lines);
    controller::ParseJobSpec(body);  // the same strict check the controller does, with lines
  } catch (const YAML::Exception& e) {
    std::fprintf(stderr, "bulwarkctl: %s:%d: YAML syntax error: %s\n", path.c_str(), e.mark.line + 1, e.msg.c_str());
    return kUsage;
  } catch (const JsonError& e) {
    const int line = lines.count(e.path()) ? lines[e.path()] : 0;
    std::fprintf(stderr, "bulwarkctl: %s:%d: %s\n", path.c_str(), line, e.what());
    return kUsage;
  }
  json job;
  if (int rc = api.Call("POST", "/v1/jobs", body, &job)) return rc;
  if (o.json_output) return std::printf("%s\n", job.dump(2).c_str()), kOk;
  std::printf("submitted %s (%s): %s\n", Str(job, "id").c_str(), Str(job["spec"], "name").c_str(), Str(job, "state").c_str());
  return kOk;
}

int Jobs(Api& api, const Options& o) {
  json page;
  if (int rc = api.Call("GET", "/v1/jobs", nullptr, &page)) return rc;
  if (o.json_output) return std::printf("%s\n", page.dump(2).c_str()), kOk;
  std::vector<std::vector<std::string>> rows;
  for (const auto& j : page["jobs"]) {
    rows.push_back({j["id"], j["spec"]["name"], j["state"], Str(j["spec"], "nodes") + "x" + Str(j["spec"], "ranks_per_node"),
                    Str(j["spec"], "nic_class"), Str(j, "reason")});
  }
  std::printf("%s", RenderTable({"ID", "NAME", "STATE", "NODESxRANKS", "NIC", "REASON"}, rows).c_str());
  return kOk;
}

int Incidents(Api& api, const Options& o) {
  json page;
  if (int rc = api.Call("GET", "/v1/incidents", nullptr, &page)) return rc;
  if (o.json_output) return std::printf("%s\n", page.dump(2).c_str()), kOk;
  std::vector<std::vector<std::string>> rows;
  for (const auto& i : page["incidents"]) {
    std::string nodes;
    for (const auto& n : i.value("nodes", json::array())) nodes += (nodes.empty() ? "" : ",") + n.get<std::string>();
    rows.push_back({Str(i, "id"), Str(i, "state"), Str(i, "verdict"), nodes.empty() ? "-" : nodes, Str(i, "summary")});
  }
  std::printf("%s", RenderTable({"ID", "STATE", "VERDICT", "NODES", "SUMMARY"}, rows).c_str());
  if (rows.empty()) std::printf("(no incidents)\n");
  return kOk;
}

// Polls a command until its agent answered it, for at most 60 s.
int WaitForCommand(Api& api, const std::string& node, json* command) {
  const std::string path =
      "/v1/nodes/" + http::UrlEncode(node) + "/commands/" + std::to_string((*command)["id"].get<uint64_t>());
  const int64_t until = MonotonicMs() + 60000;
  while (MonotonicMs() < until && ((*command)["state"] == "queued" || (*command)["state"] == "delivered")) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (int rc = api.Call("GET", path, nullptr, command)) return rc;
  }
  return kOk;
}

int RunCommand(Api& api, const Options& o, const std::string& node, const std::string& kind) {
  json body = {{"kind", kind}};
  if (o.flags.count("args")) {
    json args = json::parse(o.flags.at("args"), nullptr, false);
    if (args.is_discarded()) return Usage("--args must be JSON, got '" + o.flags.at("args") + "'");
    body["args"] = args;
  }
  json command;
  if (int rc = api.Call("POST", "/v1/nodes/" + http::UrlEncode(node) + "/commands", body, &command)) return rc;
  const uint64_t id = command["id"];
  if (o.switches.count("wait")) {
    if (int rc = WaitForCommand(api, node, &command)) return rc;
  }
  if (o.json_output) {
    std::printf("%s\n", command.dump(2).c_str());
  } else {
    std::printf("command %llu (%s on %s): %s%s\n", static_cast<unsigned long long>(id), kind.c_str(), node.c_str(),
                Str(command, "state").c_str(), command["result"].is_null() ? "" : (" " + command["result"].dump()).c_str());
  }
  return command["state"] == "failed" ? kRefused : kOk;
}

// Self-checks on one node, with round trips to every other online agent; a table of results.
// --mpi-with names nodes the MPI check spans with this one, by their hostnames.
int Diag(Api& api, const Options& o, const std::string& node) {
  json nodes;
  if (int rc = api.Call("GET", "/v1/nodes", nullptr, &nodes)) return rc;
  std::map<std::string, std::string> hostnames;
  json peers = json::array();
  for (const auto& n : nodes["nodes"]) {
    hostnames[Str(n, "name")] = Str(n, "hostname");
    const std::string url = n.value("agent_url", std::string());
    if (Str(n, "name") == node || !n.value("online", false) || url.rfind("http://", 0) != 0) continue;
    peers.push_back(url.substr(7));
  }
  if (!hostnames.count(node)) return std::fprintf(stderr, "bulwarkctl: unknown node '%s'\n", node.c_str()), kNotFound;
  json args = {{"peers", peers}, {"mpi", true}};
  if (o.flags.count("mpi-with")) {
    json mpi_hosts = json::array({hostnames[node]});
    std::stringstream list(o.flags.at("mpi-with"));
    for (std::string other; std::getline(list, other, ',');) {
      if (!hostnames.count(other)) return std::fprintf(stderr, "bulwarkctl: unknown node '%s' in --mpi-with\n", other.c_str()), kNotFound;
      mpi_hosts.push_back(hostnames[other]);
    }
    args["mpi_hosts"] = mpi_hosts;
  }
  json command;
  const json body = {{"kind", "self_check"}, {"args", args}};
  if (int rc = api.Call("POST", "/v1/nodes/" + http::UrlEncode(node) + "/commands", body, &command)) return rc;
  if (int rc = WaitForCommand(api, node, &command)) return rc;
  if (o.json_output) return std::printf("%s\n", command.dump(2).c_str()), command["state"] == "succeeded" ? kOk : kRefused;
  if (command["state"] == "queued" || command["state"] == "delivered") {
    std::fprintf(stderr, "bulwarkctl: %s's agent did not answer the self-check within 60 s\n", node.c_str());
    return kRefused;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : command["result"].value("checks", json::array())) {
    rows.push_back({Str(c, "name"), c.value("skipped", false) ? "skipped" : c.value("ok", false) ? "pass" : "FAIL",
                    Str(c, "detail")});
  }
  std::printf("%s", RenderTable({"CHECK", "RESULT", "DETAIL"}, rows).c_str());
  std::printf("%s: %s\n", node.c_str(), command["state"] == "succeeded" ? "all checks passed" : "self-check FAILED");
  return command["state"] == "succeeded" ? kOk : kRefused;
}

int NodeDetail(Api& api, const Options& o, const std::string& name) {
  json n;
  if (int rc = api.Call("GET", "/v1/nodes/" + http::UrlEncode(name), nullptr, &n)) return rc;
  if (o.json_output) return std::printf("%s\n", n.dump(2).c_str()), kOk;
  std::vector<std::vector<std::string>> rows = {
      {"name", Str(n, "name")},           {"role", Str(n, "role")},
      {"health", Str(n, "health")},       {"reason", Str(n, "reason")},
      {"since", IsoTime(n["since_ms"].get<int64_t>())},
      {"drained", Str(n, "drained")},     {"heartbeat", n["online"].get<bool>() ? Ago(n["heartbeat_age_ms"]) : "offline"},
      {"hostname", Str(n, "hostname")},   {"failure domain", Str(n["failure_domain"], "rack") + "/" + Str(n["failure_domain"], "leaf")},
      {"nics", Nics(n)},                  {"gpus / cpus", Str(n, "gpus") + " / " + Str(n, "cpus")},
      {"memory", std::to_string(n["memory_bytes"].get<int64_t>() >> 30) + " GiB"},
      {"agent", Str(n, "agent_url")},     {"shm prefix", Str(n, "shm_prefix")},
      {"registrations", Str(n, "registrations")}, {"agent status", n["agent_status"].dump()}};
  std::printf("%s", RenderTable({"FIELD", "VALUE"}, rows).c_str());
  const json& telemetry = n["last_telemetry"];
  if (telemetry.is_object() && !telemetry["ranks"].empty()) {
    // The hooks' view, as the agent last shipped it: one row per rank and communicator.
    std::vector<std::vector<std::string>> colls;
    auto us = [](const json& v) { return std::to_string(static_cast<int64_t>(v.get<double>())); };
    for (const auto& r : telemetry["ranks"]) {
      for (const auto& c : r["comms"]) {
        colls.push_back({Str(r, "rank"), Str(c, "comm"), Str(c, "op"), Str(c, "calls"), Str(c, "last_seq"),
                         Str(c, "last_seq_done"), us(c["p50_us"]), us(c["p99_us"]), us(c["in_call_us"])});
      }
    }
    std::printf("\ncollectives at %s\n%s", IsoTime(telemetry["time_ms"].get<int64_t>()).c_str(),
                RenderTable({"RANK", "COMM", "LAST OP", "CALLS", "SEQ BEGUN", "SEQ DONE", "P50 US", "P99 US", "IN CALL US"},
                            colls).c_str());
  }
  if (!n["commands"].empty()) {
    std::vector<std::vector<std::string>> cmds;
    for (const auto& c : n["commands"]) cmds.push_back({Str(c, "id"), Str(c, "kind"), Str(c, "state"), c["result"].dump().substr(0, 80)});
    std::printf("\n%s", RenderTable({"COMMAND", "KIND", "STATE", "RESULT"}, cmds).c_str());
  }
  return kOk;
}

// Replays a recorded diagnosis trace (the controller's diagnosis.record) offline: the
// verdicts it reached, reproduced without a controller.
int Replay(const Options& o, const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::fprintf(stderr, "bulwarkctl: cannot read %s\n", path.c_str()), kNotFound;
  diagnostics::EngineOptions engine;
  try {
    if (o.flags.count("hang-ms")) engine.hang_ms = std::stoll(o.flags.at("hang-ms"));
    engine.warmup_hang_ms = 4 * engine.hang_ms;  // as the controller's config defaults it
    if (o.flags.count("min-slowdown-percent")) engine.min_slowdown_percent = std::stod(o.flags.at("min-slowdown-percent"));
    if (o.flags.count("min-lost-percent")) engine.imbalance_min_lost_fraction = std::stod(o.flags.at("min-lost-percent")) / 100;
  } catch (const std::exception&) {
    return Usage("--hang-ms, --min-slowdown-percent and --min-lost-percent take numbers");
  }
  auto verdicts = diagnostics::ReplayTrace(in, engine);
  if (!verdicts.ok()) return std::fprintf(stderr, "bulwarkctl: %s: %s\n", path.c_str(), verdicts.status().message().c_str()), kRefused;
  if (o.json_output) {
    json out = json::array();
    for (const auto& v : *verdicts) out.push_back(diagnostics::ToJson(v));
    return std::printf("%s\n", out.dump(2).c_str()), kOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& v : *verdicts) {
    std::string nodes;
    for (const auto& n : v.nodes) nodes += (nodes.empty() ? "" : ",") + n;
    rows.push_back({std::to_string(v.time_ms), diagnostics::VerdictKindName(v.kind), nodes.empty() ? "-" : nodes, v.evidence});
  }
  std::printf("%s", RenderTable({"T_MS", "VERDICT", "NODES", "EVIDENCE"}, rows).c_str());
  if (rows.empty()) std::printf("(no verdicts)\n");
  return kOk;
}

// Where bulwarkctl is: bulwark-controller and bulwark-agent sit beside it.
std::string SelfDir() {
  char self[4096] = {};
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  return std::filesystem::path(std::string(self, n > 0 ? n : 0)).parent_path().string();
}

int Dispatch(Options& o) {
  const auto& a = o.args;
  if (a.empty()) return Usage("no command given");
  if (a[0] == "replay") return a.size() != 2 ? Usage("usage: replay TRACE.jsonl [--hang-ms MS] [--min-slowdown-percent P] [--min-lost-percent P]") : Replay(o, a[1]);
  if (a[0] == "plan" && a.size() == 2 && a[1] == "placement") {
    if (!o.flags.count("cluster") || !o.flags.count("job")) return Usage("usage: plan placement --cluster C.yaml --job J.yaml");
    return PlanPlacement({o.flags["cluster"], o.flags["job"], o.json_output});
  }
  if (a[0] == "plan" && !(a.size() == 3 && a[1] == "job")) {
    if (a.size() != 2 || a[1] != "traffic" || !o.flags.count("topology") || !o.flags.count("job")) {
      return Usage("usage: plan traffic --topology T.yaml --job J.yaml [--flows] | plan placement --cluster C.yaml --job J.yaml"
                   " | plan job ID [--node N]");
    }
    return PlanTraffic({o.flags["topology"], o.flags["job"], o.switches.count("flows") > 0, o.json_output});
  }
  if (a[0] == "scenario") {
    if (a.size() != 3 || a[1] != "run") return Usage("usage: scenario run FILE [--dir D] [--out F.json] [--keep]");
    ScenarioRunOptions run;
    if (o.flags.count("dir")) run.dir = o.flags["dir"];
    if (o.flags.count("out")) run.out = o.flags["out"];
    run.keep = o.switches.count("keep") > 0;
    run.bin_dir = SelfDir();
    return ScenarioRun(a[2], run);
  }
  if (a[0] == "cluster") {
    if (a.size() != 2) return Usage("cluster needs one of up, status, down");
    if (a[1] == "up") {
      ClusterUpOptions up;
      up.dir = o.dir;
      try {
        if (o.flags.count("nodes")) up.nodes = std::stoi(o.flags["nodes"]);
        if (o.flags.count("spares")) up.spares = std::stoi(o.flags["spares"]);
        if (o.flags.count("nodes-per-rack")) up.nodes_per_rack = std::stoi(o.flags["nodes-per-rack"]);
        if (o.flags.count("heartbeat-ms")) up.heartbeat_ms = std::stoi(o.flags["heartbeat-ms"]);
        if (o.flags.count("missed-beats")) up.missed_beats = std::stoi(o.flags["missed-beats"]);
        if (o.flags.count("restart-grace-ms")) up.restart_grace_ms = std::stoi(o.flags["restart-grace-ms"]);
        if (o.flags.count("local-hang-ms")) up.local_hang_ms = std::stoi(o.flags["local-hang-ms"]);
        if (o.flags.count("hang-ms")) up.hang_ms = std::stoi(o.flags["hang-ms"]);
        if (o.flags.count("snapshot-k")) up.snapshot_k = std::stoi(o.flags["snapshot-k"]);
        if (o.flags.count("snapshot-m")) up.snapshot_m = std::stoi(o.flags["snapshot-m"]);
        if (o.flags.count("db-size")) {
          auto bytes = controller::ParseBytes(o.flags["db-size"]);
          if (!bytes.ok() || bytes.value() < (16u << 20)) return Usage("--db-size takes a size of at least 16MiB, like 256MiB");
          up.db_size_bytes = bytes.value();
        }
      } catch (const std::exception&) {
        return Usage("--nodes, --spares, --nodes-per-rack, --heartbeat-ms, --local-hang-ms and --snapshot-k/-m take numbers");
      }
      if (up.nodes < 1 || up.nodes > 256 || up.spares < 0 || up.spares > 64 || up.nodes_per_rack < 1 || up.heartbeat_ms < 50 ||
          up.local_hang_ms < 100 || up.hang_ms < 100 || up.snapshot_k < 1 || up.snapshot_k > 32 || up.snapshot_m < 1 || up.snapshot_m > 32) {
        return Usage("need 1 <= --nodes <= 256, 0 <= --spares <= 64, --nodes-per-rack >= 1, --heartbeat-ms >= 50, "
                     "--local-hang-ms and --hang-ms >= 100, 1 <= --snapshot-k, --snapshot-m <= 32");
      }
      if (o.flags.count("nic-classes")) {
        std::stringstream list(o.flags["nic-classes"]);
        for (std::string cls; std::getline(list, cls, ',');) {
          if (cls != "ib" && cls != "roce" && cls != "ethernet") {
            return Usage("--nic-classes takes a comma list of ib, roce and ethernet, got '" + cls + "'");
          }
          up.nic_classes.push_back(cls);
        }
      }
      up.netns = o.switches.count("netns") > 0;
      if (up.netns && up.nodes + up.spares > 240) return Usage("--netns gives one /24 to a cluster: at most 240 nodes and spares");
      up.bin_dir = SelfDir();
      return ClusterUp(up);
    }
    if (a[1] == "status") return ClusterStatus(o.dir);
    if (a[1] == "down") return ClusterDown(o.dir);
    return Usage("unknown cluster command '" + a[1] + "'");
  }

  std::string url = o.controller, token_file = o.token_file, cluster_url, cluster_token;
  if (ReadClusterEndpoint(o.dir, &cluster_url, &cluster_token)) {
    if (url.empty()) url = cluster_url;
    if (token_file.empty()) token_file = cluster_token;
  }
  if (url.empty()) return Usage("no controller: give --controller URL, set BULWARK_CONTROLLER, or start a local cluster");
  std::string token;
  if (!token_file.empty()) {
    auto t = ReadTokenFile(token_file);
    if (!t.ok()) return std::fprintf(stderr, "bulwarkctl: %s\n", t.status().message().c_str()), kUsage;
    token = t.value();
  }
  Api api(url, token);
  auto need = [&](size_t n, const char* what) { return a.size() == n ? 0 : Usage(std::string(what)); };

  if (a[0] == "status") return need(1, "status takes no arguments") ?: Status(api, o);
  if (a[0] == "events") return need(1, "events takes flags only") ?: Events(api, o);
  if (a[0] == "jobs") return need(1, "jobs takes no arguments") ?: Jobs(api, o);
  if (a[0] == "diag") return need(2, "usage: diag NAME") ?: Diag(api, o, a[1]);
  if (a[0] == "incidents") return need(1, "incidents takes no arguments") ?: Incidents(api, o);
  if (a[0] == "plan") {  // plan job ID [--node N]
    json plan;
    const std::string query = o.flags.count("node") ? "?node=" + http::UrlEncode(o.flags["node"]) : "";
    if (int rc = api.Call("GET", "/v1/jobs/" + http::UrlEncode(a[2]) + "/plan" + query, nullptr, &plan)) return rc;
    if (o.json_output) return std::printf("%s\n", plan.dump(2).c_str()), kOk;
    return PrintJobPlan(plan), kOk;
  }
  if (a[0] == "fabric") {
    json out;
    if (a.size() == 1) {
      if (int rc = api.Call("GET", "/v1/fabric", nullptr, &out)) return rc;
      if (o.json_output) return std::printf("%s\n", out.dump(2).c_str()), kOk;
      return PrintFabric(out), kOk;
    }
    if (a.size() != 4 || (a[1] != "link-down" && a[1] != "link-up")) return Usage("usage: fabric | fabric link-down|link-up LEAF SPINE [--reason T]");
    json body = {{"leaf", a[2]}, {"spine", a[3]}, {"state", a[1] == "link-down" ? "down" : "up"}};
    if (o.flags.count("reason")) body["reason"] = o.flags["reason"];
    if (int rc = api.Call("POST", "/v1/fabric/links", body, &out)) return rc;
    if (o.json_output) return std::printf("%s\n", out.dump(2).c_str()), kOk;
    return PrintLinkChange(out), kOk;
  }
  if (a[0] == "nodes") {
    if (int rc = need(1, "nodes takes no arguments")) return rc;
    json page;
    if (int rc = api.Call("GET", "/v1/nodes", nullptr, &page)) return rc;
    if (o.json_output) return std::printf("%s\n", page.dump(2).c_str()), kOk;
    PrintNodes(page["nodes"]);
    return kOk;
  }
  if (a[0] == "node") return need(2, "usage: node NAME") ?: NodeDetail(api, o, a[1]);
  if (a[0] == "drain" || a[0] == "undrain" || a[0] == "isolate" || a[0] == "readmit") {
    if (int rc = need(2, "usage: drain|undrain|isolate|readmit NAME")) return rc;
    json body = json::object();
    if (o.flags.count("reason")) body["reason"] = o.flags["reason"];
    if (o.flags.count("as")) body["as"] = o.flags["as"];
    json node;
    if (int rc = api.Call("POST", "/v1/nodes/" + http::UrlEncode(a[1]) + "/" + a[0], body, &node)) return rc;
    if (o.json_output) return std::printf("%s\n", node.dump(2).c_str()), kOk;
    std::printf("%s: %s, %s%s%s\n", a[1].c_str(), Str(node, "health").c_str(), Str(node, "role").c_str(),
                node["drained"].get<bool>() ? ", drained" : "", node["changed"].get<bool>() ? "" : " (unchanged)");
    return kOk;
  }
  if (a[0] == "command") return need(3, "usage: command NAME KIND [--args JSON] [--wait]") ?: RunCommand(api, o, a[1], a[2]);
  if (a[0] == "job") {
    if (a.size() == 3 && a[1] == "submit") return JobSubmit(api, o, a[2]);
    json out;
    if (a.size() == 3 && a[1] == "cancel") {
      if (int rc = api.Call("DELETE", "/v1/jobs/" + http::UrlEncode(a[2]), nullptr, &out)) return rc;
    } else if (a.size() == 2) {
      if (int rc = api.Call("GET", "/v1/jobs/" + http::UrlEncode(a[1]), nullptr, &out)) return rc;
      if (!o.json_output) return PrintJob(out), kOk;
    } else {
      return Usage("usage: job ID | job submit FILE.yaml | job cancel ID");
    }
    std::printf("%s\n", out.dump(2).c_str());
    return kOk;
  }
  if (a[0] == "recover") {
    if (int rc = need(2, "usage: recover JOB [--reason T]")) return rc;
    json body = json::object(), out;
    if (o.flags.count("reason")) body["reason"] = o.flags["reason"];
    if (int rc = api.Call("POST", "/v1/jobs/" + http::UrlEncode(a[1]) + "/recover", body, &out)) return rc;
    if (o.json_output) return std::printf("%s\n", out.dump(2).c_str()), kOk;
    std::printf("%s: %s (restart %d of %d)\n", a[1].c_str(), Str(out, "state").c_str(), out.value("restarts", 0),
                out["spec"].value("restart_budget", 0));
    return kOk;
  }
  if (a[0] == "inject") {
    if (int rc = need(2, "usage: inject KIND [--node N] [--job J] [--rank R] [--for DURATION] [--percent P]")) return rc;
    auto body = InjectionRequest(a[1], o.flags);
    if (!body.ok()) return Usage(body.status().message());
    json out;
    if (int rc = api.Call("POST", "/v1/injections", body.value(), &out)) return rc;
    if (a[1] == "kill-controller") {
      // Recorded by the controller; struck by this tool, which runs the local cluster.
      std::printf("%s\n", InjectionLine(out).c_str());
      std::fflush(stdout);
      if (int rc = StrikeController(o.dir, out.value("duration_ms", int64_t{2000}), SelfDir())) return rc;
      if (int rc = api.Call("POST", "/v1/injections/" + http::UrlEncode(out.value("id", std::string())) + "/heal", json::object(), &out)) return rc;
      std::printf("%s\n", InjectionLine(out).c_str());
      return kOk;
    }
    // The agent's answer follows within moments: wait for it, so the exit code says whether
    // the fault is in force.
    const std::string id = out.value("id", std::string());
    for (int i = 0; i < 150 && out.value("state", std::string()) == "sent"; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (int rc = api.Call("GET", "/v1/injections/" + http::UrlEncode(id), nullptr, &out)) return rc;
    }
    if (o.json_output) std::printf("%s\n", out.dump(2).c_str());
    else std::printf("%s\n", InjectionLine(out).c_str());
    return out.value("state", std::string()) == "failed" ? kRefused : kOk;
  }
  if (a[0] == "heal") {
    if (int rc = need(2, "usage: heal ID")) return rc;
    json out;
    if (int rc = api.Call("POST", "/v1/injections/" + http::UrlEncode(a[1]) + "/heal", json::object(), &out)) return rc;
    for (int i = 0; i < 150 && out.value("state", std::string()) != "healed"; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (int rc = api.Call("GET", "/v1/injections/" + http::UrlEncode(a[1]), nullptr, &out)) return rc;
    }
    if (o.json_output) std::printf("%s\n", out.dump(2).c_str());
    else std::printf("%s\n", InjectionLine(out).c_str());
    return out.value("state", std::string()) == "healed" ? kOk : kRefused;
  }
  if (a[0] == "injections" || a[0] == "injection") {
    if (int rc = need(a[0] == "injections" ? 1 : 2, "usage: injections | injection ID")) return rc;
    json out;
    const std::string path = a[0] == "injections" ? "/v1/injections" : "/v1/injections/" + http::UrlEncode(a[1]);
    if (int rc = api.Call("GET", path, nullptr, &out)) return rc;
    if (o.json_output || a[0] == "injection") return std::printf("%s\n", out.dump(2).c_str()), kOk;
    std::printf("%s", InjectionsTable(out["injections"]).c_str());
    return kOk;
  }
  if (a[0] == "incident") {
    if (int rc = need(2, "usage: incident ID")) return rc;
    json out;
    if (int rc = api.Call("GET", "/v1/incidents/" + http::UrlEncode(a[1]), nullptr, &out)) return rc;
    std::printf("%s\n", out.dump(2).c_str());
    return kOk;
  }
  return Usage("unknown command '" + a[0] + "'");
}

}  // namespace
}  // namespace bulwark::ctl

int main(int argc, char** argv) {
  using namespace bulwark::ctl;
  Options o;
  if (const char* v = std::getenv("BULWARK_CONTROLLER")) o.controller = v;
  if (const char* v = std::getenv("BULWARK_TOKEN_FILE")) o.token_file = v;
  o.dir = std::getenv("BULWARK_CLUSTER_DIR") ? std::getenv("BULWARK_CLUSTER_DIR") : "bulwark-cluster";
  static const char* kValued[] = {"controller", "token-file", "dir", "nodes", "spares", "nodes-per-rack", "heartbeat-ms", "missed-beats", "restart-grace-ms",
                                  "local-hang-ms", "hang-ms", "min-slowdown-percent", "min-lost-percent", "snapshot-k", "snapshot-m",
                                  "reason", "as", "args", "since", "limit", "mpi-with", "node", "job", "rank", "for", "percent", "leave", "db-size", "out",
                                  "delay", "rate", "loss", "period", "down", "topology", "cluster", "nic-classes"};
  static const char* kSwitches[] = {"json", "follow", "wait", "keep", "netns", "flows"};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help" || arg == "help") return std::printf("%s", kUsageText), 0;
    if (arg.rfind("--", 0) != 0) {
      o.args.push_back(arg);
      continue;
    }
    const std::string name = arg.substr(2);
    bool known = false;
    for (const char* s : kSwitches) {
      if (name == s) known = true, o.switches[name] = true;
    }
    for (const char* v : kValued) {
      if (name != v) continue;
      if (i + 1 >= argc) return Usage("--" + name + " needs a value");
      known = true;
      o.flags[name] = argv[++i];
    }
    if (!known) return Usage("unknown option '" + arg + "'");
  }
  if (o.flags.count("controller")) o.controller = o.flags["controller"];
  if (o.flags.count("token-file")) o.token_file = o.flags["token-file"];
  if (o.flags.count("dir")) o.dir = o.flags["dir"];
  o.json_output = o.switches.count("json") > 0;
  try {
    return Dispatch(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bulwarkctl: %s\n", e.what());
    return kRefused;
  }
}
