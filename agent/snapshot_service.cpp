#include "agent/snapshot_service.h"

#include <chrono>
#include <thread>

#include "common/clock.h"
#include "common/http_client.h"
#include "snapshot/erasure_code.h"
#include "snapshot/node_shard.h"

namespace bulwark::agent {
namespace {

using nlohmann::json;
using namespace bulwark::snapshot;

// Where this node's member, group and block are in a controller view; false if absent.
struct Placement {
  std::string member;
  uint32_t group = 0;
  int block = 0;
  json group_json;
};

std::string MemberOfRanks(const json& view, const std::vector<int>& ranks) {
  for (const auto& m : view.value("members", json::array())) {
    if (m.value("ranks", std::vector<int>{}) == ranks) return m.value("member", std::string());
  }
  return "";
}

std::string MemberOfRank(const json& view, int rank, std::vector<int>* ranks) {
  for (const auto& m : view.value("members", json::array())) {
    auto r = m.value("ranks", std::vector<int>{});
    if (std::find(r.begin(), r.end(), rank) != r.end()) {
      *ranks = r;
      return m.value("member", std::string());
    }
  }
  return "";
}

std::string AddressOf(const json& view, const std::string& member, std::string* node = nullptr) {
  for (const auto& m : view.value("members", json::array())) {
    if (m.value("member", std::string()) == member) {
      if (node) *node = m.value("node", std::string());
      return m.value("address", std::string());
    }
  }
  return "";
}

bool Place(const json& view, const std::string& member, Placement* out) {
  for (const auto& g : view.value("groups", json::array())) {
    const auto data = g.value("data", std::vector<std::string>{});
    for (size_t i = 0; i < data.size(); ++i) {
      if (data[i] == member) {
        *out = {member, g.value("id", 0u), static_cast<int>(i), g};
        return true;
      }
    }
  }
  return false;
}

std::string RankList(const std::vector<int>& ranks) {
  std::string out;
  for (int r : ranks) out += (out.empty() ? "" : ",") + std::to_string(r);
  return out;
}

}  // namespace

SnapshotService::SnapshotService(SnapshotOptions options, std::function<void(const std::string&)> log)
    : options_(std::move(options)),
      log_(std::move(log)),
      parity_(options_.prefix, options_.budget_bytes),
      protect_seconds_(prometheus::BuildHistogram()
                           .Name("bulwark_agent_snapshot_protect_duration_seconds")
                           .Help("Time to protect a step: erasure-code this node's shards and send the fragments to peers")
                           .Register(*registry_)
                           .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60})),
      rebuild_seconds_(prometheus::BuildHistogram()
                           .Name("bulwark_agent_snapshot_rebuild_duration_seconds")
                           .Help("Time to rebuild a rank's state from fragments in peers' memory")
                           .Register(*registry_)
                           .Add({}, prometheus::Histogram::BucketBoundaries{0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60})) {}

SnapshotService::~SnapshotService() {
  if (server_) server_->Stop();
}

Result<std::unique_ptr<SnapshotService>> SnapshotService::Start(SnapshotOptions options,
                                                                std::function<void(const std::string&)> log) {
  std::unique_ptr<SnapshotService> s(new SnapshotService(std::move(options), std::move(log)));
  s->parity_.Load();
  SnapshotService* raw = s.get();
  auto server = DataPlaneServer::Start(
      s->options_.listen_host, s->options_.listen_port, &s->parity_,
      [raw](const ChunkKey& key, const std::function<Status(const FragmentHeader&, const NodeShard&)>& send) {
        return raw->ServeLocalBlock(key, send);
      },
      s->log_, s->options_.chunk_bytes, static_cast<int>(s->options_.timeout_ms));
  if (!server.ok()) return server.status();
  s->server_ = std::move(server).value();
  return s;
}

std::string SnapshotService::data_address() const {
  return options_.listen_host + ":" + std::to_string(server_->port());
}

void SnapshotService::Run(const std::atomic<bool>* stop) {
  std::thread follower([this, stop] { FollowRecoveryPoints(stop); });
  int64_t listed_ms = 0;
  while (!stop->load()) {
    const int64_t now = MonotonicMs();
    const bool list = now - listed_ms >= options_.scan_ms;
    if (list) listed_ms = now;
    ScanRanks(list);
    ReportToController(false);
    ProtectReady();
    // Commits are watched closely only while this node has ranks; an idle agent must stay
    // off the CPUs its training processes need.
    std::this_thread::sleep_for(std::chrono::milliseconds(HasRanks() ? options_.poll_ms : options_.scan_ms));
  }
  follower.join();
}

bool SnapshotService::HasRanks() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return !jobs_.empty();
}

void SnapshotService::ScanRanks(bool list) {
  std::map<std::string, std::set<int>> found;
  if (list) {
    for (const auto& [job, rank] : FindRanks(options_.prefix)) found[job].insert(rank);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (!list) {
    for (const auto& [job, state] : jobs_) {
      for (const auto& [rank, slots] : state.ranks) found[job].insert(rank);
    }
  }
  for (auto& [job, ranks] : found) {
    JobState& state = jobs_[job];
    for (int rank : ranks) {
      if (state.ranks.count(rank)) continue;
      auto slots = RankSlots::Open(options_.prefix, job, rank);
      if (!slots.ok()) continue;  // a trainer still creating it: next pass
      state.ranks[rank] = std::move(slots).value();
      report_due_ = true;
    }
  }
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    auto& state = it->second;
    const auto& present = found[it->first];
    // readdir of /dev/shm may miss an entry while others are created or removed: a rank is
    // gone only when its control block cannot be opened.
    std::erase_if(state.ranks, [&](const auto& r) {
      return !present.count(r.first) && !RankSlots::Open(options_.prefix, it->first, r.first).ok();
    });
    if (state.ranks.empty()) {
      it = jobs_.erase(it);
      report_due_ = true;
      continue;
    }
    // The steps every local rank holds a complete slot of.
    std::optional<std::vector<uint64_t>> common;
    for (const auto& [rank, slots] : state.ranks) {
      const auto steps = slots->Steps();
      if (!common) {
        common = steps;
      } else {
        std::erase_if(*common, [&](uint64_t s) { return std::find(steps.begin(), steps.end(), s) == steps.end(); });
      }
    }
    state.held_steps = common.value_or(std::vector<uint64_t>{});
    // A restarted job that went back (to the recovery point, or to scratch) commits below
    // what this node protected: those steps belong to the abandoned run.
    std::optional<uint64_t> lowest_committed;
    for (const auto& [rank, slots] : state.ranks) {
      const auto c = slots->Committed();
      const uint64_t v = c ? *c : 0;
      if (!lowest_committed || v < *lowest_committed) lowest_committed = v;
    }
    if (!state.protected_steps.empty() && lowest_committed && *lowest_committed < state.protected_steps.front()) {
      std::erase_if(state.protected_steps, [&](uint64_t s) { return s > *lowest_committed; });
      state.released.reset();
      report_due_ = true;
    }
    if (state.held_steps != state.reported_held) report_due_ = true;
    ++it;
  }
}

void SnapshotService::ReportToController(bool force) {
  const int64_t now = MonotonicMs();
  json jobs = json::array();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!force && !report_due_ && now - last_report_ms_ < 2000) return;
    for (const auto& [job, state] : jobs_) {
      std::vector<int> ranks;
      int world = 0;
      for (const auto& [rank, slots] : state.ranks) {
        ranks.push_back(rank);
        world = std::max(world, slots->world_size());
      }
      if (world <= 0) continue;  // a trainer that did not say its world size: not protectable
      jobs.push_back({{"job", job}, {"world", world}, {"ranks", ranks}, {"protected_steps", state.protected_steps},
                      {"held_steps", state.held_steps}});
    }
  }
  last_report_ms_ = now;
  if (jobs.empty()) {
    report_due_ = false;
    return;
  }
  http::Client client(options_.controller_url, options_.token, 5000);
  auto r = client.Send("POST", "/v1/agents/" + http::UrlEncode(options_.node) + "/snapshots",
                       json{{"address", data_address()}, {"domain", options_.domain}, {"jobs", jobs}}.dump());
  if (!r.ok() || r->status != 200) return;  // the controller is away: report again soon
  json answer = json::parse(r->body, nullptr, false);
  if (answer.is_discarded()) return;
  std::lock_guard<std::mutex> lock(mutex_);
  report_due_ = false;
  for (auto& [job, state] : jobs_) {
    if (!answer["jobs"].contains(job)) continue;
    state.reported_held = state.held_steps;
    const json& view = answer["jobs"][job];
    state.view = view;  // a restarted controller counts epochs from 0 again: take it as is
    state.epoch = view.value("epoch", uint64_t{0});
    // The follower waits for the *next* epoch: apply what this answer already says.
    ApplyView(state);
  }
}

void SnapshotService::ProtectReady() {
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [job, state] : jobs_) names.push_back(job);
  }
  for (const auto& job : names) {
    JobState* state;
    std::optional<uint64_t> step;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = jobs_.find(job);
      if (it == jobs_.end()) continue;
      state = &it->second;
      if (state->view.value("groups", json::array()).empty()) continue;  // no plan yet
      if (!state->managed) {
        for (auto& [rank, slots] : state->ranks) slots->Manage();
        state->managed = true;
      }
      // The step the controller says every member holds; this node must hold it too.
      if (!state->view["protect_step"].is_number_unsigned()) continue;
      step = state->view["protect_step"].get<uint64_t>();
      const auto& held = state->held_steps;
      if (std::find(held.begin(), held.end(), *step) == held.end()) continue;
      const auto& done = state->protected_steps;
      if (std::find(done.begin(), done.end(), *step) != done.end()) continue;
      if (!done.empty() && *step < done.front()) continue;
      if (state->attempted == step && MonotonicMs() < state->retry_at_ms) continue;
    }
    // Only this thread changes a job's ranks, so `state` stays valid without the lock.
    const int64_t started = MonotonicMs();
    Status s = Protect(job, *state, *step);
    std::lock_guard<std::mutex> lock(mutex_);
    state->attempted = step;
    if (s.ok()) {
      protect_seconds_.Observe(static_cast<double>(MonotonicMs() - started) / 1000);
      state->protected_steps.insert(state->protected_steps.begin(), *step);
      if (state->protected_steps.size() > 2) state->protected_steps.resize(2);
      ++steps_protected_;
      report_due_ = true;
    } else {
      ++protect_failures_;
      state->retry_at_ms = MonotonicMs() + 1000;
      report_due_ = true;  // the plan may have moved on (the step abandoned): ask before retrying
      log_("snapshot: step " + std::to_string(*step) + " of job " + job + " not protected (retrying in 1 s): " + s.message() +
           " [" + std::to_string(MonotonicMs() - started) + " ms]");
    }
  }
  ReportToController(false);
}

Status SnapshotService::Protect(const std::string& job, JobState& state, uint64_t step) {
  json view;
  std::vector<int> ranks;
  for (const auto& [rank, slots] : state.ranks) ranks.push_back(rank);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    view = state.view;
  }
  Placement place;
  const std::string member = MemberOfRanks(view, ranks);
  if (member.empty() || !Place(view, member, &place)) {
    return Status::Error("ranks " + RankList(ranks) + " are not a member of job " + job + "'s protection plan yet");
  }
  std::vector<RankPiece> pieces;
  for (const auto& [rank, slots] : state.ranks) {
    auto crc = slots->Checksum(step);  // recorded for the trainer's restore, off its stall
    if (!crc.ok()) return crc.status();
    auto bytes = slots->View(step);
    if (!bytes.ok()) return bytes.status();
    pieces.push_back({rank, bytes->data, bytes->bytes});
  }
  NodeShard shard(step, pieces);
  const int k = view.value("k", 0), m = view.value("m", 0);
  auto code = ErasureCode::Create(k, m);
  if (!code.ok()) return code.status();
  ContributionInfo info;
  info.k = k;
  info.m = m;
  info.members = static_cast<int>(place.group_json.value("data", json::array()).size());
  info.block = place.block;
  info.shard = {ranks.front(), shard.size(), shard.Crc()};
  const auto parity = place.group_json.value("parity", std::vector<std::string>{});
  // One connection per parity holder, in parallel; each retried after a dropped connection.
  std::vector<Status> results(parity.size(), Status::Ok());
  std::vector<std::thread> senders;
  for (size_t j = 0; j < parity.size(); ++j) {
    senders.emplace_back([&, j] {
      const std::string address = AddressOf(view, parity[j]);
      const ParityKey key{job, step, place.group, k + static_cast<int>(j)};
      Status s = Status::Error("no address for parity holder " + parity[j]);
      for (int attempt = 0; attempt < 3 && !address.empty(); ++attempt) {
        // A step the plan no longer wants is not sent again, nor waited for (the wait for the
        // seal asks too: the other members have moved on and will never send their blocks).
        if (attempt > 0 && !StillWanted(job, step)) {
          s = Status::Error(s.message() + "; not retried: the plan moved on from step " + std::to_string(step));
          break;
        }
        s = SendContribution(address, key, info, code.value(), shard, options_.chunk_bytes, static_cast<int>(options_.timeout_ms),
                             [&] { return !StillWanted(job, step); });
        if (s.ok()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100 << attempt));
      }
      results[j] = s.ok() ? s : Status::Error("parity " + std::to_string(k + j) + " on " + parity[j] + ": " + s.message());
    });
  }
  for (auto& t : senders) t.join();
  for (const auto& r : results) {
    if (!r.ok()) return r;
  }
  return Status::Ok();
}

bool SnapshotService::StillWanted(const std::string& job, uint64_t step) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = jobs_.find(job);
  if (it == jobs_.end()) return false;
  const json& view = it->second.view;
  const auto wanted = view.find("protect_step");
  if (wanted == view.end() || !wanted->is_number_unsigned() || wanted->get<uint64_t>() != step) return false;
  const auto abandoned = view.value("abandoned_steps", std::vector<uint64_t>{});
  return std::find(abandoned.begin(), abandoned.end(), step) == abandoned.end();
}

Result<json> SnapshotService::FetchView(const std::string& job, uint64_t after, int64_t wait_ms, bool* unreachable) const {
  http::Client client(options_.controller_url, options_.token, static_cast<long>(wait_ms + 5000));
  auto r = client.Send("GET", "/v1/agents/" + http::UrlEncode(options_.node) + "/snapshots/" + http::UrlEncode(job) +
                                  "?after=" + std::to_string(after) + "&wait_ms=" + std::to_string(wait_ms));
  if (unreachable) *unreachable = !r.ok();
  if (!r.ok()) return Status::Error("controller unreachable: " + r.status().message());
  json body = json::parse(r->body, nullptr, false);
  if (r->status != 200) {
    return Status::Error("controller: " + (body.is_object() ? body.value("error", r->body) : r->body));
  }
  if (body.is_discarded()) return Status::Error("controller sent a malformed snapshot view");
  return body;
}

void SnapshotService::FollowRecoveryPoints(const std::atomic<bool>* stop) {
  while (!stop->load()) {
    std::vector<std::pair<std::string, uint64_t>> watch;  // job, the epoch known
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& [job, state] : jobs_) {
        if (state.managed) watch.emplace_back(job, state.epoch);
      }
    }
    if (watch.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    // One job at a time with a short wait, so a new job is picked up within a second.
    for (const auto& [job, after] : watch) {
      auto view = FetchView(job, after, watch.size() == 1 ? 1000 : 50);
      if (!view.ok()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = jobs_.find(job);
      if (it == jobs_.end()) continue;
      JobState& state = it->second;
      state.view = *view;
      state.epoch = view->value("epoch", uint64_t{0});
      ApplyView(state);
    }
  }
}

void SnapshotService::ApplyView(JobState& state) {
  if (!state.managed) return;
  if (state.view["recovery_point"].is_number_unsigned()) {
    const uint64_t point = state.view["recovery_point"].get<uint64_t>();
    for (auto& [rank, slots] : state.ranks) slots->Release(point);
    state.released = point;
  }
  for (uint64_t step : state.view.value("abandoned_steps", std::vector<uint64_t>{})) {
    for (auto& [rank, slots] : state.ranks) {
      if (slots->Committed() == step) slots->Abandon(step);
    }
  }
}

Status SnapshotService::ServeLocalBlock(const ChunkKey& key,
                                        const std::function<Status(const FragmentHeader&, const NodeShard&)>& send) {
  json view;
  std::vector<int> ranks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = jobs_.find(key.job);
    if (it == jobs_.end()) return Status::Error("node " + options_.node + " holds no snapshots of job " + key.job);
    view = it->second.view;
    for (const auto& [rank, slots] : it->second.ranks) ranks.push_back(rank);
  }
  Placement place;
  if (!Place(view, MemberOfRanks(view, ranks), &place) || place.group != key.group || place.block != key.index) {
    return Status::Error("node " + options_.node + " does not hold data block " + std::to_string(key.index) + " of group " +
                         std::to_string(key.group));
  }
  // Fresh mappings: this runs on a data-plane thread, beside the protection loop.
  std::vector<std::unique_ptr<RankSlots>> slots;
  std::vector<RankPiece> pieces;
  for (int rank : ranks) {
    auto s = RankSlots::Open(options_.prefix, key.job, rank);
    if (!s.ok()) return s.status();
    auto crc = (*s)->Checksum(key.step);  // the CRC recorded when the step was protected
    auto bytes = (*s)->View(key.step);
    if (!crc.ok() || !bytes.ok()) return crc.ok() ? bytes.status() : crc.status();
    // Memory that rotted since then must not be sent as good: check it against that CRC.
    if (Crc32c(bytes->data, bytes->bytes) != crc.value()) {
      return Status::Error("rank " + std::to_string(rank) + "'s slot of step " + std::to_string(key.step) + " on " +
                           options_.node + " fails its checksum (corrupted in memory)");
    }
    pieces.push_back({rank, bytes->data, bytes->bytes});
    slots.push_back(std::move(s).value());
  }
  NodeShard shard(key.step, pieces);
  FragmentHeader h;
  h.job = key.job;
  h.step = key.step;
  h.group = key.group;
  h.index = key.index;
  h.k = view.value("k", 0);
  h.m = view.value("m", 0);
  h.fragment_bytes = shard.size();
  h.fragment_crc = shard.Crc();
  h.shards.assign(h.k, ShardInfo{});
  if (key.index >= h.k) return Status::Error("data block index " + std::to_string(key.index) + " is not below k");
  h.shards[key.index] = {ranks.front(), shard.size(), h.fragment_crc};
  return send(h, shard);
}

Result<json> SnapshotService::Restore(const std::string& job, int rank, std::optional<uint64_t> wanted) {
  std::lock_guard<std::mutex> serial(restore_mutex_);
  // A relaunch can reach its restore while the controller restarts (seconds): ask again
  // until it answers, within the snapshot timeout. Failing at once made the ranks exit,
  // and the restarted controller fenced a healthy node for it.
  bool unreachable = false;
  auto view = FetchView(job, 0, 0, &unreachable);
  for (const int64_t give_up = MonotonicMs() + options_.timeout_ms; !view.ok() && unreachable && MonotonicMs() < give_up;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    view = FetchView(job, 0, 0, &unreachable);
  }
  if (!view.ok()) return view.status();
  if (!(*view)["recovery_point"].is_number_unsigned()) {
    return Status::Error("job " + job + " has no recovery point yet" +
                         (view->value("plan_error", std::string()).empty() ? "" : " (" + view->value("plan_error", std::string()) + ")"));
  }
  const uint64_t step = wanted ? *wanted : (*view)["recovery_point"].get<uint64_t>();
  auto local = RankSlots::Open(options_.prefix, job, rank);
  if (local.ok() && (*local)->Holds(step)) {
    auto crc = (*local)->Checksum(step);
    auto bytes = (*local)->View(step);
    if (crc.ok() && bytes.ok() && Crc32c(bytes->data, bytes->bytes) == crc.value()) {
      ++restores_local_;
      return json{{"job", job}, {"rank", rank}, {"step", step}, {"source", "local memory"}};
    }
    log_("snapshot: rank " + std::to_string(rank) + "'s local slot of step " + std::to_string(step) +
         " fails its checksum; rebuilding from peers");
  }
  auto rebuilt = Rebuild(job, view.value(), rank, step);
  if (!rebuilt.ok()) {
    ++restore_failures_;
    return rebuilt.status();
  }
  ++restores_peers_;
  return rebuilt;
}

Result<json> SnapshotService::Rebuild(const std::string& job, const json& view, int rank, uint64_t step) {
  const auto started = std::chrono::steady_clock::now();
  std::vector<int> ranks;
  const std::string member = MemberOfRank(view, rank, &ranks);
  Placement place;
  if (member.empty() || !Place(view, member, &place)) {
    return Status::Error("rank " + std::to_string(rank) + " is in no protection group of job " + job);
  }
  const int k = view.value("k", 0), m = view.value("m", 0);
  auto code = ErasureCode::Create(k, m);
  if (!code.ok()) return code.status();
  const auto data = place.group_json.value("data", std::vector<std::string>{});
  const auto parity = place.group_json.value("parity", std::vector<std::string>{});
  // Candidates: a parity block first (its header carries every shard's length and CRC, which
  // data blocks are checked against), then the surviving data blocks, then the other parity.
  struct Candidate {
    int index;
    std::string member;
  };
  std::vector<Candidate> candidates;
  if (!parity.empty()) candidates.push_back({k, parity[0]});
  for (size_t i = 0; i < data.size(); ++i) {
    if (static_cast<int>(i) != place.block) candidates.push_back({static_cast<int>(i), data[i]});
  }
  for (size_t j = 1; j < parity.size(); ++j) candidates.push_back({k + static_cast<int>(j), parity[j]});

  std::vector<int> present_index;
  std::vector<HugeVector<uint8_t>> present;
  std::vector<ShardInfo> manifest;
  std::vector<std::string> rejected;
  uint64_t block_len = 0;
  std::vector<std::pair<int, FetchedFragment>> waiting_data;  // data fetched before any manifest
  auto accept_data = [&](int index, FetchedFragment& f) -> bool {
    const ShardInfo& want = manifest[index];
    if (f.header.fragment_bytes != want.bytes || f.header.fragment_crc != want.crc) {
      rejected.push_back("data block " + std::to_string(index) + ": holds another version of step " + std::to_string(step) +
                         " than the parity was coded from");
      return false;
    }
    f.payload.resize(block_len, 0);  // zero-padded to the group's block length
    present_index.push_back(index);
    present.push_back(std::move(f.payload));
    return true;
  };
  for (const auto& c : candidates) {
    if (static_cast<int>(present.size()) >= k) break;
    std::string node;
    const std::string address = AddressOf(view, c.member, &node);
    // A fragment on this node is fetched too, over loopback: a survivor rebuilding a lost
    // rank for a shrunk job may hold the group's parity itself.
    auto f = FetchFragment(address, {job, step, place.group, c.index}, static_cast<int>(options_.timeout_ms));
    if (!f.ok()) {
      ++fragments_rejected_;
      rejected.push_back("fragment " + std::to_string(c.index) + " from " + node + ": " + f.status().message());
      log_("snapshot: " + rejected.back());
      continue;
    }
    if (c.index >= k) {
      if (manifest.empty()) {
        manifest = f->header.shards;
        block_len = f->header.fragment_bytes;
      }
      present_index.push_back(c.index);
      present.push_back(std::move(f->payload));
      for (auto& [index, frag] : waiting_data) accept_data(index, frag);
      waiting_data.clear();
    } else if (manifest.empty()) {
      waiting_data.emplace_back(c.index, std::move(f).value());
    } else if (!accept_data(c.index, f.value())) {
      ++fragments_rejected_;
    }
  }
  if (static_cast<int>(present.size()) > k) {  // data that waited for a manifest may overshoot
    present.resize(k);
    present_index.resize(k);
  }
  // Blocks past a short group's members are zeros that everyone knows.
  for (int i = static_cast<int>(data.size()); i < k && static_cast<int>(present.size()) < k; ++i) {
    present_index.push_back(i);
    present.emplace_back(block_len, 0);
  }
  if (static_cast<int>(present.size()) < k || manifest.empty()) {
    std::string why;
    for (const auto& r : rejected) why += "; " + r;
    return Status::Error("cannot rebuild ranks " + RankList(ranks) + " of job " + job + " at step " + std::to_string(step) +
                         ": group " + std::to_string(place.group) + " has " + std::to_string(present.size()) + " of the " +
                         std::to_string(k) + " fragments RS(" + std::to_string(k) + "," + std::to_string(m) +
                         ") needs (more than m=" + std::to_string(m) + " lost)" + why);
  }
  std::vector<const uint8_t*> inputs;
  for (const auto& p : present) inputs.push_back(p.data());
  HugeVector<uint8_t> out(block_len);
  uint8_t* out_ptr = out.data();
  if (Status s = code->Decode(present_index, inputs.data(), block_len, {place.block}, &out_ptr); !s.ok()) return s;
  const ShardInfo& want = manifest[place.block];
  if (want.bytes > block_len || Crc32c(out.data(), want.bytes) != want.crc) {
    return Status::Error("the shard of ranks " + RankList(ranks) + " rebuilt for step " + std::to_string(step) +
                         " fails its checksum: nothing was restored");
  }
  auto pieces = ParseNodeShard(out.data(), want.bytes, step);
  if (!pieces.ok()) return pieces.status();
  const int world = view.value("world", 0);
  for (const auto& p : pieces.value()) {
    const uint8_t* bytes = out.data() + p.offset;
    if (Status s = RankSlots::Install(options_.prefix, job, p.rank, world, step, bytes, p.bytes, Crc32c(bytes, p.bytes)); !s.ok()) {
      return s;
    }
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  rebuild_seconds_.Observe(ms / 1000);
  bytes_rebuilt_ += want.bytes;
  log_("snapshot: rebuilt ranks " + RankList(ranks) + " of job " + job + " at step " + std::to_string(step) + " from " +
       std::to_string(k) + " fragments of peers in " + std::to_string(static_cast<int>(ms)) + " ms");
  return json{{"job", job},
              {"rank", rank},
              {"step", step},
              {"source", "peers"},
              {"ranks_rebuilt", ranks},
              {"fragments", present_index},
              {"rejected", rejected},
              {"bytes", want.bytes},
              {"ms", ms}};
}

json SnapshotService::StatusJson() const {
  std::lock_guard<std::mutex> lock(mutex_);
  json jobs = json::array();
  for (const auto& [job, state] : jobs_) {
    std::vector<int> ranks;
    for (const auto& [rank, slots] : state.ranks) ranks.push_back(rank);
    jobs.push_back({{"job", job},
                    {"ranks", ranks},
                    {"protected_steps", state.protected_steps},
                    {"released", state.released ? json(*state.released) : json()}});
  }
  return {{"data_address", data_address()},
          {"jobs", jobs},
          {"parity_bytes", parity_.bytes_held()},
          {"parity_budget_bytes", parity_.budget()},
          {"parity_versions", parity_.sealed_versions()}};
}

MetricFamilies SnapshotService::Metrics() const {
  using prometheus::MetricType;
  MetricFamilies out = registry_->Collect();
  auto count = [&out](const char* name, const char* help, double value) {
    out.push_back(OneSample(name, help, MetricType::Counter, value));
  };
  out.push_back(OneSample("bulwark_agent_snapshot_parity_bytes", "Bytes of peers' parity fragments held in this node's memory",
                          MetricType::Gauge, static_cast<double>(parity_.bytes_held())));
  out.push_back(OneSample("bulwark_agent_snapshot_parity_budget_bytes", "The most parity this node holds for its peers",
                          MetricType::Gauge, static_cast<double>(parity_.budget())));
  count("bulwark_agent_snapshot_steps_protected_total", "Steps this node protected in peers' memory",
        static_cast<double>(steps_protected_));
  count("bulwark_agent_snapshot_protect_failures_total", "Attempts to protect a step that failed (retried)",
        static_cast<double>(protect_failures_));
  count("bulwark_agent_snapshot_restores_local_total", "Ranks restored from this node's own memory",
        static_cast<double>(restores_local_));
  count("bulwark_agent_snapshot_restores_peers_total", "Ranks restored from fragments in peers' memory",
        static_cast<double>(restores_peers_));
  count("bulwark_agent_snapshot_restore_failures_total", "Restores that failed", static_cast<double>(restore_failures_));
  count("bulwark_agent_snapshot_fragments_rejected_total", "Fragments refused for a checksum or header mismatch",
        static_cast<double>(fragments_rejected_));
  count("bulwark_agent_snapshot_rebuilt_bytes_total",
        "Bytes of rank state rebuilt from peers (over the rebuild seconds: restore throughput)",
        static_cast<double>(bytes_rebuilt_));
  const auto& c = server_->counters();
  count("bulwark_agent_snapshot_bytes_received_total", "Bytes the data plane received from peers",
        static_cast<double>(c.bytes_received));
  count("bulwark_agent_snapshot_bytes_sent_total", "Bytes the data plane sent to peers", static_cast<double>(c.bytes_sent));
  count("bulwark_agent_snapshot_bad_frames_total", "Data-plane frames refused as malformed", static_cast<double>(c.bad_frames));
  // Per job on this node (a few at most): versions every local rank holds, and the newest protected.
  auto held = EmptyFamily("bulwark_agent_snapshot_versions_held", "Snapshot steps every local rank of the job holds in memory",
                          MetricType::Gauge);
  auto newest = EmptyFamily("bulwark_agent_snapshot_protected_step", "The newest step of the job this node protected",
                            MetricType::Gauge);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [job, state] : jobs_) {
      AddSample(held, static_cast<double>(state.held_steps.size()), {{"job", job}});
      if (!state.protected_steps.empty()) AddSample(newest, static_cast<double>(state.protected_steps.front()), {{"job", job}});
    }
  }
  out.push_back(std::move(held));
  out.push_back(std::move(newest));
  return out;
}

}  // namespace bulwark::agent
