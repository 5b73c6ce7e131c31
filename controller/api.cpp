#include "controller/api.h"

#include <boost/asio.hpp>

#include <chrono>
#include <cstdio>
#include <vector>

#include "common/clock.h"
#include "common/strict_json.h"
#include "common/token.h"
#include "controller/dashboard.h"

namespace bulwark::controller {
namespace {

using nlohmann::json;

http::Response JsonResponse(int status, const json& body) {
  return {status, DumpJson(body), "application/json"};
}

http::Response ErrorResponse(int status, const std::string& message) {
  return JsonResponse(status, {{"error", message}});
}

std::vector<std::string> Segments(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// A query parameter as an unsigned integer, or the fallback; garbage is a 400.
uint64_t QueryNumber(const http::Request& r, const std::string& key, uint64_t fallback, uint64_t max) {
  auto it = r.query.find(key);
  if (it == r.query.end()) return fallback;
  const std::string& text = it->second;
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos) {
    throw ApiError(400, "query parameter '" + key + "' must be a non-negative integer, got '" + text + "'");
  }
  const uint64_t v = std::stoull(text);
  if (v > max) throw ApiError(400, "query parameter '" + key + "' must be at most " + std::to_string(max));
  return v;
}

uint64_t PathNumber(const std::string& text, const std::string& what) {
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos) {
    throw ApiError(400, what + " must be a number, got '" + text + "'");
  }
  return std::stoull(text);
}

json Body(const http::Request& r) {
  if (r.body.empty()) return json::object();
  return ParseJson(r.body);
}

[[noreturn]] void MethodNotAllowed(const http::Request& r, const std::string& allowed) {
  throw ApiError(405, "method " + r.method + " is not allowed on " + r.path + "; use " + allowed);
}

}  // namespace

struct Api::Waiter {
  http::Respond respond;
  std::function<http::Response()> answer;  // what to say when woken or timed out
  std::unique_ptr<boost::asio::steady_timer> timer;
  bool done = false;
};

Api::Api(Cluster* cluster, boost::asio::io_context* io, ApiOptions options, ControllerMetrics* metrics,
         std::function<size_t()> open_connections)
    : cluster_(cluster),
      io_(io),
      options_(std::move(options)),
      metrics_(metrics),
      open_connections_(std::move(open_connections)),
      snapshots_(options_.snapshot_k, options_.snapshot_m),
      injections_(cluster, InjectionsOptions{options_.data_dir}),
      traffic_(cluster, options_.topology) {
  injections_.Load();
  traffic_.Load();
  cluster_->set_on_launch([this](const JobRecord& job, int64_t now_wall_ms) { traffic_.JobLaunched(job, now_wall_ms); });
  cluster_->set_on_events([this] { Wake("events"); });
  cluster_->set_on_command([this](const std::string& node) { Wake("commands/" + node); });
  cluster_->set_snapshot_source([this](const std::string& job) {
    return Cluster::SnapshotProgress{snapshots_.RecoveryPoint(job), snapshots_.NewestHeld(job)};
  });
  // The catalog lives in memory: give it back the codes of the jobs stored before a restart.
  for (const auto& job : cluster_->Jobs()) {
    snapshots_.SetCode(job["id"].get<std::string>(), job["spec"]["snapshot"]["k"].get<int>(),
                       job["spec"]["snapshot"]["m"].get<int>());
  }
  // …and what it knew of each job's snapshots (the agents' reports then bring it up to date).
  for (const auto& [job, saved] : cluster_->StoredSnapshotCatalogs()) {
    if (Status s = snapshots_.Restore(job, saved); !s.ok()) std::fprintf(stderr, "bulwark-controller: %s\n", s.message().c_str());
  }
}

Api::~Api() {
  cluster_->set_on_events(nullptr);
  cluster_->set_on_command(nullptr);
  cluster_->set_snapshot_source(nullptr);
}

bool Api::Authorized(Access access, const std::string& token) const {
  switch (access) {
    case Access::kOpen: return true;
    case Access::kAgent: return TokensEqual(token, options_.agent_token);
    case Access::kRead: return options_.open_reads || TokensEqual(token, options_.operator_token);
    case Access::kOperator: return TokensEqual(token, options_.operator_token);
  }
  return false;
}

void Api::Handle(http::Request request, http::Respond respond) {
  // The route is known only once Route() returns, but it may answer before that (most
  // requests) or long after (a long-poll): the metric is recorded when both are known.
  struct Outcome {
    std::string route = "rejected";
    bool routed = false, answered = false, timed = true;
    int status = 0;
    double seconds = 0;
  };
  const auto start = std::chrono::steady_clock::now();
  auto outcome = std::make_shared<Outcome>();
  auto record = [this, outcome] {
    metrics_->ObserveRequest(outcome->route, outcome->status, outcome->timed ? outcome->seconds : -1);
  };
  http::Respond observed = [start, outcome, record, respond](http::Response r) {
    outcome->answered = true;
    outcome->status = r.status;
    outcome->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (outcome->routed) record();
    respond(std::move(r));
  };
  auto routed = [&](std::string route) {
    outcome->route = std::move(route);
    outcome->timed = outcome->route != "/v1/agents/{node}/commands" && outcome->route != "/v1/events" &&
                     outcome->route != "/v1/agents/{node}/snapshots/{job}";
    outcome->routed = true;
    if (outcome->answered) record();
  };
  try {
    routed(Route(request, observed));
  } catch (const ApiError& e) {
    routed("rejected");
    observed(ErrorResponse(e.status(), e.what()));
  } catch (const JsonError& e) {
    routed("rejected");
    observed(ErrorResponse(400, e.what()));
  } catch (const json::exception& e) {
    routed("rejected");  // a body missing a field or with one of the wrong type
    observed(ErrorResponse(400, std::string("malformed request body: ") + e.what()));
  } catch (const std::exception& e) {
    routed("rejected");
    observed(ErrorResponse(500, std::string("internal error: ") + e.what()));
  }
}

std::string Api::Route(http::Request& r, const http::Respond& respond) {
  const auto s = Segments(r.path);
  const bool get = r.method == "GET", post = r.method == "POST", del = r.method == "DELETE";
  const int64_t wall = WallMs(), mono = MonotonicMs();

  // The dashboard's page and files hold no data (it reads this API with the operator's
  // token), so they are served to anyone.
  if (get) {
    if (auto page = DashboardResponse(r.path)) {
      respond(std::move(*page));
      return r.path == "/" ? "/" : "/ui/{file}";
    }
  }

  Access access = Access::kOperator;
  if (r.path == "/healthz" || r.path == "/readyz") {
    access = Access::kOpen;
  } else if (s.size() >= 2 && s[0] == "v1" && s[1] == "agents") {
    access = Access::kAgent;
  } else if (get) {
    access = Access::kRead;
  }
  if (!Authorized(access, r.bearer_token)) {
    const char* who = access == Access::kAgent ? "the agent token" : "the operator token";
    throw ApiError(401, r.bearer_token.empty() ? std::string("missing bearer token: this endpoint needs ") + who
                                               : std::string("wrong bearer token: this endpoint needs ") + who);
  }

  if (r.path == "/healthz") {
    respond(JsonResponse(200, {{"status", "ok"}}));
    return "/healthz";
  }
  if (r.path == "/readyz") {
    respond(ready_ ? JsonResponse(200, {{"status", "ready"}}) : ErrorResponse(503, "not ready"));
    return "/readyz";
  }
  if (r.path == "/metrics") {
    if (!get) MethodNotAllowed(r, "GET");
    respond({200, metrics_->Render(*cluster_, snapshots_, mono, open_connections_()), "text/plain; version=0.0.4"});
    return "/metrics";
  }
  if (s.size() < 2 || s[0] != "v1") throw ApiError(404, "no such endpoint: " + r.path);

  // --- agents ---
  if (s.size() == 3 && s[1] == "agents" && s[2] == "register") {
    if (!post) MethodNotAllowed(r, "POST");
    respond(JsonResponse(200, cluster_->Register(ParseNodeInfo(Body(r)), wall, mono)));
    return "/v1/agents/register";
  }
  if (s.size() >= 4 && s[1] == "agents") {
    const std::string& node = s[2];
    const std::string& what = s[3];
    if (s.size() == 4 && what == "heartbeat") {
      if (!post) MethodNotAllowed(r, "POST");
      respond(JsonResponse(200, cluster_->Heartbeat(node, Body(r), wall, mono)));
      return "/v1/agents/{node}/heartbeat";
    }
    if (s.size() == 4 && what == "telemetry") {
      if (!post) MethodNotAllowed(r, "POST");
      cluster_->Telemetry(node, r.body, wall, mono);
      respond(JsonResponse(200, {{"accepted", true}}));
      return "/v1/agents/{node}/telemetry";
    }
    if (s.size() == 4 && what == "events") {
      if (!post) MethodNotAllowed(r, "POST");
      const json body = Body(r);
      cluster_->AgentEvents(node, body, wall, mono);
      injections_.OnAgentEvents(node, body, wall);
      respond(JsonResponse(200, {{"accepted", true}}));
      return "/v1/agents/{node}/events";
    }
    if (s.size() == 4 && what == "commands") {
      if (!get) MethodNotAllowed(r, "GET");
      const uint64_t after = QueryNumber(r, "after", 0, UINT64_MAX >> 1);
      const int64_t wait = static_cast<int64_t>(QueryNumber(r, "wait_ms", 0, options_.long_poll_max_ms));
      bool news = !cluster_->CommandsAfter(node, after).empty();  // 404 for an unknown node before parking
      // `after` counts another controller instance's ids (this one restarted): answer at once,
      // so the agent starts over now, not after a parked poll (stops reached nodes 25 s late).
      auto instance = r.query.find("instance");
      if (instance != r.query.end() && instance->second != cluster_->instance_id()) news = true;
      Park("commands/" + node, news, wait, respond, [this, node, after] { return CommandsAnswer(node, after); });
      return "/v1/agents/{node}/commands";
    }
    if (s.size() == 4 && what == "snapshots") {
      if (!post) MethodNotAllowed(r, "POST");
      cluster_->CommandsAfter(node, UINT64_MAX >> 1);  // 404 for a node that never registered
      respond(JsonResponse(200, ReportSnapshots(node, Body(r))));
      return "/v1/agents/{node}/snapshots";
    }
    if (s.size() == 5 && what == "snapshots") {
      if (!get) MethodNotAllowed(r, "GET");
      const uint64_t after = QueryNumber(r, "after", 0, UINT64_MAX >> 1);
      const int64_t wait = static_cast<int64_t>(QueryNumber(r, "wait_ms", 0, options_.long_poll_max_ms));
      // `after` is the job's epoch the caller knows: answer once it moved past it.
      Park("snapshots/" + s[4], snapshots_.Epoch(s[4]) > after, wait, respond, [this, job = s[4]] { return SnapshotsAnswer(job); });
      return "/v1/agents/{node}/snapshots/{job}";
    }
    if (s.size() == 6 && what == "commands" && s[5] == "result") {
      if (!post) MethodNotAllowed(r, "POST");
      const uint64_t id = PathNumber(s[4], "command id");
      const json body = Body(r);
      cluster_->CommandResult(node, id, body, wall);
      injections_.OnCommandResult(node, id, body, wall);
      respond(JsonResponse(200, {{"accepted", true}}));
      return "/v1/agents/{node}/commands/{id}/result";
    }
    throw ApiError(404, "no such endpoint: " + r.path);
  }

  // --- operators ---
  if (s.size() == 2 && s[1] == "cluster") {
    if (!get) MethodNotAllowed(r, "GET");
    respond(JsonResponse(200, cluster_->Summary(mono)));
    return "/v1/cluster";
  }
  if (s[1] == "nodes") {
    if (s.size() == 2) {
      if (!get) MethodNotAllowed(r, "GET");
      respond(JsonResponse(200, {{"nodes", cluster_->Nodes(mono)}}));
      return "/v1/nodes";
    }
    const std::string& node = s[2];
    if (s.size() == 3) {
      if (!get) MethodNotAllowed(r, "GET");
      respond(JsonResponse(200, cluster_->Node(node, mono)));
      return "/v1/nodes/{node}";
    }
    const std::string& action = s[3];
    if (s.size() == 4 && (action == "drain" || action == "undrain" || action == "isolate" || action == "readmit")) {
      if (!post) MethodNotAllowed(r, "POST");
      const json body = Body(r);
      StrictJson in(body);
      const std::string reason = in.String("reason", "");
      std::string as = "worker";
      if (action == "readmit") {
        as = in.String("as", "worker");
        if (as != "worker" && as != "spare") in.Fail("as", "must be 'worker' or 'spare', got '" + as + "'");
      }
      in.Finish();
      NodeInput input = action == "drain"     ? NodeInput::kDrain
                        : action == "undrain" ? NodeInput::kUndrain
                        : action == "isolate" ? NodeInput::kIsolate
                        : as == "spare"       ? NodeInput::kReadmitAsSpare
                                              : NodeInput::kReadmit;
      const std::string why = "operator " + action + (reason.empty() ? "" : ": " + reason);
      respond(JsonResponse(200, cluster_->NodeAction(node, input, why, wall)));
      return "/v1/nodes/{node}/" + action;
    }
    if (s.size() == 4 && action == "commands") {
      if (!post) MethodNotAllowed(r, "POST");
      const json body = Body(r);
      const std::string kind = body.is_object() && body.contains("kind") && body["kind"].is_string() ? body["kind"].get<std::string>() : "";
      if (kind == "inject" || kind == "heal_injection") {
        throw ApiError(400, "'" + kind + "' is sent through POST /v1/injections, which records it");
      }
      respond(JsonResponse(202, ToJson(cluster_->EnqueueCommand(node, body, wall))));
      return "/v1/nodes/{node}/commands";
    }
    if (s.size() == 5 && action == "commands") {
      if (!get) MethodNotAllowed(r, "GET");
      respond(JsonResponse(200, cluster_->GetCommand(node, PathNumber(s[4], "command id"))));
      return "/v1/nodes/{node}/commands/{id}";
    }
    throw ApiError(404, "no such endpoint: " + r.path);
  }
  if (s.size() == 2 && s[1] == "snapshots") {
    if (!get) MethodNotAllowed(r, "GET");
    respond(JsonResponse(200, {{"jobs", snapshots_.Summary()}}));
    return "/v1/snapshots";
  }
  if (s[1] == "jobs") {
    if (s.size() == 4 && s[3] == "recover") {
      if (!post) MethodNotAllowed(r, "POST");
      std::string reason;
      if (!r.body.empty()) {
        const json body = Body(r);
        StrictJson in(body);
        reason = in.String("reason", "");
        in.Finish();
      }
      respond(JsonResponse(202, cluster_->RecoverJob(s[2], reason, wall)));
      return "/v1/jobs/{id}/recover";
    }
    if (s.size() == 4 && s[3] == "snapshots") {
      if (!get) MethodNotAllowed(r, "GET");
      respond(SnapshotsAnswer(s[2]));
      return "/v1/jobs/{id}/snapshots";
    }
    if (s.size() == 4 && s[3] == "plan") {
      if (!get) MethodNotAllowed(r, "GET");
      auto node = r.query.find("node");
      respond(JsonResponse(200, traffic_.JobPlan(s[2], node == r.query.end() ? "" : node->second)));
      return "/v1/jobs/{id}/plan";
    }
    if (s.size() == 2) {
      if (get) {
        respond(JsonResponse(200, {{"jobs", cluster_->Jobs()}}));
      } else if (post) {
        const JobSpec spec = ParseJobSpec(Body(r));
        json submitted = cluster_->SubmitJob(spec, wall);
        snapshots_.SetCode(submitted.value("id", std::string()), spec.snapshot_k, spec.snapshot_m);
        respond(JsonResponse(201, submitted));
      } else {
        MethodNotAllowed(r, "GET or POST");
      }
      return "/v1/jobs";
    }
    if (s.size() == 3) {
      if (get) {
        respond(JsonResponse(200, cluster_->Job(s[2])));
      } else if (del) {
        respond(JsonResponse(200, cluster_->CancelJob(s[2], wall)));
      } else {
        MethodNotAllowed(r, "GET or DELETE");
      }
      return "/v1/jobs/{id}";
    }
  }
  if (s[1] == "injections" && s.size() <= 4) {
    if (s.size() == 2) {
      if (get) {
        respond(JsonResponse(200, {{"injections", injections_.List()}}));
      } else if (post) {
        respond(JsonResponse(202, injections_.Start(Body(r), wall)));
      } else {
        MethodNotAllowed(r, "GET or POST");
      }
      return "/v1/injections";
    }
    if (s.size() == 3) {
      if (!get) MethodNotAllowed(r, "GET");
      respond(JsonResponse(200, injections_.Get(s[2])));
      return "/v1/injections/{id}";
    }
    if (s[3] == "heal") {
      if (!post) MethodNotAllowed(r, "POST");
      respond(JsonResponse(202, injections_.Heal(s[2], wall)));
      return "/v1/injections/{id}/heal";
    }
  }
  if (s.size() == 2 && s[1] == "fabric") {
    if (!get) MethodNotAllowed(r, "GET");
    respond(JsonResponse(200, traffic_.Fabric()));
    return "/v1/fabric";
  }
  if (s.size() == 3 && s[1] == "fabric" && s[2] == "links") {
    if (!post) MethodNotAllowed(r, "POST");
    respond(JsonResponse(200, traffic_.SetLink(Body(r), wall)));
    return "/v1/fabric/links";
  }
  if (s[1] == "incidents" && s.size() <= 3) {
    if (!get) MethodNotAllowed(r, "GET");
    respond(JsonResponse(200, s.size() == 2 ? json{{"incidents", cluster_->Incidents()}} : cluster_->Incident(s[2])));
    return s.size() == 2 ? "/v1/incidents" : "/v1/incidents/{id}";
  }
  if (s.size() == 3 && s[1] == "diagnosis" && s[2] == "lateness") {
    if (!get) MethodNotAllowed(r, "GET");
    respond(JsonResponse(200, cluster_->Lateness()));
    return "/v1/diagnosis/lateness";
  }
  if (s.size() == 2 && s[1] == "events") {
    if (!get) MethodNotAllowed(r, "GET");
    const uint64_t since = QueryNumber(r, "since", 0, UINT64_MAX >> 1);
    const size_t limit = QueryNumber(r, "limit", 1000, 10000);
    const int64_t wait = static_cast<int64_t>(QueryNumber(r, "wait_ms", 0, options_.long_poll_max_ms));
    const size_t n = limit == 0 ? 1 : limit;
    Park("events", cluster_->last_event_id() > since, wait, respond, [this, since, n] {
      return JsonResponse(200, {{"events", cluster_->Events(since, n)}, {"last_event_id", cluster_->last_event_id()}});
    });
    return "/v1/events";
  }
  throw ApiError(404, "no such endpoint: " + r.path);
}

// --- long-polls: answer at once when there is news, else park until news or the timeout ---

http::Response Api::CommandsAnswer(const std::string& node, uint64_t after) const {
  json commands = json::array();
  for (const auto& c : cluster_->CommandsAfter(node, after)) commands.push_back(ToJson(c));
  return JsonResponse(200, {{"controller_instance", cluster_->instance_id()}, {"commands", commands}});
}

void Api::Park(const std::string& key, bool news, int64_t wait_ms, http::Respond respond,
               std::function<http::Response()> answer) {
  if (news || wait_ms == 0) return respond(answer());
  auto w = std::make_shared<Waiter>();
  w->respond = std::move(respond);
  w->answer = std::move(answer);
  w->timer = std::make_unique<boost::asio::steady_timer>(*io_, std::chrono::milliseconds(wait_ms));
  waiters_[key].push_back(w);
  w->timer->async_wait([this, w, key](const boost::system::error_code&) {
    if (w->done) return;
    w->done = true;
    auto it = waiters_.find(key);
    if (it != waiters_.end()) {
      it->second.remove(w);
      if (it->second.empty()) waiters_.erase(it);
    }
    w->respond(w->answer());
  });
}

void Api::Wake(const std::string& key) {
  auto it = waiters_.find(key);
  if (it == waiters_.end()) return;
  auto waiters = std::move(it->second);
  waiters_.erase(it);
  for (auto& w : waiters) {
    if (w->done) continue;
    w->done = true;
    w->timer->cancel();
    w->respond(w->answer());
  }
}

// --- snapshots: agents report what they protect; the recovery point moves; watchers wake ---

json Api::ReportSnapshots(const std::string& node, const json& body) {
  const std::string address = body.at("address").get<std::string>();
  const std::string domain = body.value("domain", std::string());
  json answer = json::object();
  for (const auto& j : body.at("jobs")) {
    SnapshotReport report{node, domain, address, j.at("job").get<std::string>(), j.at("world").get<int>(),
                          j.at("ranks").get<std::vector<int>>(), j.value("protected_steps", std::vector<uint64_t>{}),
                          j.value("held_steps", std::vector<uint64_t>{})};
    auto moved = snapshots_.Report(report);
    if (!moved.ok()) throw ApiError(400, moved.status().message());
    if (*moved) {
      cluster_->StoreSnapshotCatalog(report.job, snapshots_.Saved(report.job));
      Wake("snapshots/" + report.job);
    }
    answer[report.job] = snapshots_.View(report.job).value();
  }
  return {{"jobs", answer}};
}

http::Response Api::SnapshotsAnswer(const std::string& job) const {
  auto view = snapshots_.View(job);
  return view.ok() ? JsonResponse(200, view.value()) : ErrorResponse(404, view.status().message());
}

}  // namespace bulwark::controller
