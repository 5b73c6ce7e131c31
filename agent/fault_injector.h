// Faults an operator injects on this node (`bulwarkctl inject`, POST /v1/injections), made
// real: signals to the ranks' processes, a byte flipped in a fragment this node holds for
// its peers, the node's own death with its memory, and faults of the node's link (slow,
// lossy, partitioned, flapping: agent/link_fault_plan.h). A fault that lasts (hang-rank,
// slow-rank, the link faults) heals itself when its duration runs out — the controller may be what is down
// by then — or earlier on a heal; either way an `injection_healed` event says so.
// Thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/job_launcher.h"
#include "agent/link_fault_plan.h"
#include "common/status.h"

namespace bulwark::agent {

struct InjectorEnvironment {
  std::function<std::vector<RankProcess>()> ranks;  // this node's ranks, newest attempt first
  std::string shm_dir = "/dev/shm";
  std::string shm_prefix;  // this node's snapshot memory and parity: <shm_dir>/<prefix>.*
  std::function<void(nlohmann::json event)> event;
  std::function<void()> die;  // kill-node: the agent's own end, after its answer is sent
  std::string link_interface;  // link faults act on it; "" refuses them
  std::string netem_binary;    // bulwark-netem, for slow-link and lossy-link
};

class FaultInjector {
 public:
  explicit FaultInjector(InjectorEnvironment env);
  ~FaultInjector();  // heals what still lasts: no rank stays frozen behind a stopped agent

  // args: {id, kind, job?, rank?, duration_ms?, percent?} as the controller validated them
  // (controller/injection.h). Returns what was done, naming the processes or file.
  Result<nlohmann::json> Apply(const nlohmann::json& args);
  // Ends a lasting fault now. Unknown ids are an error; one whose duration ran out is not
  // (until the next Apply forgets it).
  Result<nlohmann::json> Heal(const std::string& id);
  // The lasting faults still in force.
  nlohmann::json Active() const;

 private:
  struct Lasting {
    std::string id, kind;
    std::vector<pid_t> pids;
    int64_t duration_ms = 0;  // 0: until healed
    int percent = 0;          // slow-rank: extra time, in percent of the normal
    bool stop = false;        // guarded by the injector's mutex
    std::thread worker;
    LinkFaultPlan link;       // link faults: what undoes them
    pid_t netem = 0;          // slow-link, lossy-link: the bulwark-netem holding the packets
    int netem_output = -1;
  };

  Result<RankProcess> ChooseRank(const nlohmann::json& args) const;
  Result<nlohmann::json> KillNode();
  Result<nlohmann::json> CorruptFragment(const nlohmann::json& args);
  Result<nlohmann::json> StartLasting(const nlohmann::json& args, const RankProcess& target);
  Result<nlohmann::json> StartLinkFault(const nlohmann::json& args);
  void RunLinkFault(Lasting* fault, std::unique_lock<std::mutex>& lock, int64_t until);
  static void EndLinkFault(Lasting* fault);  // heals the link and stops bulwark-netem
  void RunLasting(Lasting* fault);
  void ReapEnded();  // joins the lasting faults whose duration ran out

  InjectorEnvironment env_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::map<std::string, std::unique_ptr<Lasting>> lasting_;
  std::vector<std::thread> detached_;  // kill-node's delayed end
};

}  // namespace bulwark::agent
