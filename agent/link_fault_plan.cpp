#include "agent/link_fault_plan.h"

#include <cstdio>

namespace bulwark::agent {
namespace {

// NFQUEUE numbers of bulwark-netem: one fault per interface at a time holds them.
constexpr const char* kOutQueue = "7101";
constexpr const char* kInQueue = "7102";
constexpr int64_t kAnswerFirstMs = 300;

std::string Number(double v) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", v);
  return text;
}

// An iptables rule on both directions of the interface: `op` -I to add, -D to remove.
std::vector<Command> BothWays(const LinkFaultTools& t, const std::string& op, const Command& out_target,
                              const Command& in_target) {
  Command out = {t.iptables, "-w", op, "OUTPUT", "-o", t.interface, "-j"};
  Command in = {t.iptables, "-w", op, "INPUT", "-i", t.interface, "-j"};
  out.insert(out.end(), out_target.begin(), out_target.end());
  in.insert(in.end(), in_target.begin(), in_target.end());
  return {out, in};
}

}  // namespace

bool IsLinkFault(const std::string& kind) {
  return kind == "slow-link" || kind == "lossy-link" || kind == "partition-node" || kind == "flap-link";
}

Result<LinkFaultPlan> PlanLinkFault(const nlohmann::json& args, const LinkFaultTools& t) {
  const std::string kind = args.value("kind", std::string());
  if (!IsLinkFault(kind)) return Status::Error("'" + kind + "' is not a link fault");
  if (t.interface.empty()) {
    return Status::Error(kind + " needs a link of this node's own, and its agent names none (link_faults.interface): "
                         "a local cluster has them with `cluster up --netns`");
  }
  LinkFaultPlan plan;
  if (kind == "slow-link" || kind == "lossy-link") {
    if (t.netem.empty()) return Status::Error(kind + " needs bulwark-netem, which is not beside this agent");
    const double delay = args.value("delay_ms", 0.0), rate = args.value("rate_mbit", 0.0), loss = args.value("loss_percent", 0.0);
    if (delay <= 0 && rate <= 0 && loss <= 0) return Status::Error(kind + " needs a delay, a rate or a loss");
    plan.netem = {t.netem, "--queue-out", kOutQueue, "--queue-in", kInQueue, "--delay-ms", Number(delay),
                  "--rate-mbit", Number(rate), "--loss-percent", Number(loss)};
    const Command out = {"NFQUEUE", "--queue-num", kOutQueue, "--queue-bypass"};
    const Command in = {"NFQUEUE", "--queue-num", kInQueue, "--queue-bypass"};
    plan.apply = BothWays(t, "-I", out, in);
    plan.heal = BothWays(t, "-D", out, in);
  } else if (kind == "partition-node") {
    plan.apply = BothWays(t, "-I", {"DROP"}, {"DROP"});
    plan.heal = BothWays(t, "-D", {"DROP"}, {"DROP"});
    plan.start_after_ms = kAnswerFirstMs;
  } else {
    plan.period_ms = args.value("period_ms", int64_t{0});
    plan.down_ms = args.value("down_ms", int64_t{0});
    if (plan.period_ms <= 0 || plan.down_ms <= 0 || plan.down_ms >= plan.period_ms) {
      return Status::Error("flap-link needs a period and a time down shorter than it");
    }
    plan.down = {t.ip, "link", "set", "dev", t.interface, "down"};
    plan.up = {t.ip, "link", "set", "dev", t.interface, "up"};
    plan.heal = {plan.up};
    plan.start_after_ms = kAnswerFirstMs;
  }
  return plan;
}

}  // namespace bulwark::agent
