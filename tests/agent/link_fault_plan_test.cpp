// The commands that put each link fault on an interface and take it off.
#include "agent/link_fault_plan.h"

#include <gtest/gtest.h>

namespace bulwark::agent {
namespace {

using nlohmann::json;

LinkFaultTools Tools() {
  LinkFaultTools t;
  t.interface = "eth0";
  t.ip = "ip";
  t.iptables = "iptables";
  t.netem = "/bin/bulwark-netem";
  return t;
}

TEST(LinkFaultPlanTest, ASlowLinkQueuesBothDirectionsThroughNetem) {
  auto plan = PlanLinkFault({{"kind", "slow-link"}, {"delay_ms", 20}, {"rate_mbit", 50.0}}, Tools());
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->netem, (Command{"/bin/bulwark-netem", "--queue-out", "7101", "--queue-in", "7102", "--delay-ms", "20", "--rate-mbit", "50",
                                  "--loss-percent", "0"}));
  ASSERT_EQ(plan->apply.size(), 2u);
  EXPECT_EQ(plan->apply[0], (Command{"iptables", "-w", "-I", "OUTPUT", "-o", "eth0", "-j", "NFQUEUE", "--queue-num", "7101", "--queue-bypass"}));
  EXPECT_EQ(plan->apply[1], (Command{"iptables", "-w", "-I", "INPUT", "-i", "eth0", "-j", "NFQUEUE", "--queue-num", "7102", "--queue-bypass"}));
  ASSERT_EQ(plan->heal.size(), 2u);
  EXPECT_EQ(plan->heal[0][2], "-D") << "the same rules, deleted";
  EXPECT_EQ(plan->period_ms, 0);
  EXPECT_EQ(plan->start_after_ms, 0) << "in force when the answer says so";
}

TEST(LinkFaultPlanTest, ALossyLinkUsesNetemWithItsLoss) {
  auto plan = PlanLinkFault({{"kind", "lossy-link"}, {"loss_percent", 2.5}}, Tools());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->netem.back(), "2.5");
}

TEST(LinkFaultPlanTest, APartitionDropsEverythingAndNeedsNoNetem) {
  auto plan = PlanLinkFault({{"kind", "partition-node"}}, Tools());
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->netem.empty());
  EXPECT_EQ(plan->apply[0], (Command{"iptables", "-w", "-I", "OUTPUT", "-o", "eth0", "-j", "DROP"}));
  EXPECT_EQ(plan->heal[1], (Command{"iptables", "-w", "-D", "INPUT", "-i", "eth0", "-j", "DROP"}));
  EXPECT_EQ(plan->start_after_ms, 300) << "the answer that it was accepted gets out first";
}

TEST(LinkFaultPlanTest, AFlapTakesTheInterfaceDownAndUpAndHealsUp) {
  auto plan = PlanLinkFault({{"kind", "flap-link"}, {"period_ms", 10000}, {"down_ms", 2000}}, Tools());
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->apply.empty());
  EXPECT_EQ(plan->down, (Command{"ip", "link", "set", "dev", "eth0", "down"}));
  EXPECT_EQ(plan->heal, (std::vector<Command>{{"ip", "link", "set", "dev", "eth0", "up"}}));
  EXPECT_EQ(plan->period_ms, 10000);
  EXPECT_EQ(plan->down_ms, 2000);
  EXPECT_EQ(plan->start_after_ms, 300);
}

TEST(LinkFaultPlanTest, WhatCannotBeDoneSaysWhy) {
  LinkFaultTools none = Tools();
  none.interface.clear();
  EXPECT_EQ(PlanLinkFault({{"kind", "partition-node"}}, none).status().message(),
            "partition-node needs a link of this node's own, and its agent names none (link_faults.interface): "
            "a local cluster has them with `cluster up --netns`");
  LinkFaultTools no_netem = Tools();
  no_netem.netem.clear();
  EXPECT_EQ(PlanLinkFault({{"kind", "slow-link"}, {"delay_ms", 5}}, no_netem).status().message(),
            "slow-link needs bulwark-netem, which is not beside this agent");
  EXPECT_EQ(PlanLinkFault({{"kind", "slow-link"}}, Tools()).status().message(), "slow-link needs a delay, a rate or a loss");
  EXPECT_EQ(PlanLinkFault({{"kind", "flap-link"}, {"period_ms", 1000}, {"down_ms", 1000}}, Tools()).status().message(),
            "flap-link needs a period and a time down shorter than it");
  EXPECT_EQ(PlanLinkFault({{"kind", "kill-rank"}}, Tools()).status().message(), "'kill-rank' is not a link fault");
}

}  // namespace
}  // namespace bulwark::agent
