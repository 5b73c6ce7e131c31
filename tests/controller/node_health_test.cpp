#include "controller/node_health.h"

#include <gtest/gtest.h>

namespace bulwark::controller {
namespace {

NodeState In(Health h, Role r = Role::kWorker) {
  NodeState s;
  s.health = h;
  s.role = r;
  return s;
}

Health After(Health h, NodeInput input) {
  auto t = ApplyNodeInput(In(h), input, "why", 7);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t->next.health;
}

TEST(NodeHealthTest, HeartbeatLossAndReturnGoThroughSuspect) {
  EXPECT_EQ(After(Health::kHealthy, NodeInput::kHeartbeatLost), Health::kLost);
  EXPECT_EQ(After(Health::kSuspect, NodeInput::kHeartbeatLost), Health::kLost);
  EXPECT_EQ(After(Health::kIsolated, NodeInput::kHeartbeatLost), Health::kIsolated) << "fencing outranks silence";
  EXPECT_EQ(After(Health::kLost, NodeInput::kHeartbeatResumed), Health::kSuspect);
  EXPECT_EQ(After(Health::kHealthy, NodeInput::kHeartbeatResumed), Health::kHealthy);
  EXPECT_EQ(After(Health::kSuspect, NodeInput::kSelfCheckPassed), Health::kHealthy);
  EXPECT_EQ(After(Health::kSuspect, NodeInput::kSelfCheckFailed), Health::kIsolated);
  EXPECT_EQ(After(Health::kLost, NodeInput::kSelfCheckPassed), Health::kLost) << "a lost node cannot vouch for itself";
  EXPECT_EQ(After(Health::kHealthy, NodeInput::kSuspect), Health::kSuspect);
}

TEST(NodeHealthTest, OperatorActions) {
  for (Health h : {Health::kHealthy, Health::kSuspect, Health::kLost}) {
    EXPECT_EQ(After(h, NodeInput::kIsolate), Health::kIsolated);
  }
  auto again = ApplyNodeInput(In(Health::kIsolated), NodeInput::kIsolate, "x", 1);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed) << "isolating twice is idempotent";

  auto readmit = ApplyNodeInput(In(Health::kIsolated), NodeInput::kReadmitAsSpare, "repaired", 9);
  ASSERT_TRUE(readmit.ok());
  EXPECT_EQ(readmit->next.health, Health::kHealthy);
  EXPECT_EQ(readmit->next.role, Role::kSpare);
  EXPECT_EQ(readmit->next.reason, "repaired");
  EXPECT_EQ(readmit->next.since_ms, 9);

  auto lost = ApplyNodeInput(In(Health::kLost), NodeInput::kReadmit, "x", 1);
  EXPECT_FALSE(lost.ok());
  EXPECT_NE(lost.status().message().find("sends no heartbeats"), std::string::npos);
  auto healthy = ApplyNodeInput(In(Health::kHealthy), NodeInput::kReadmit, "x", 1);
  EXPECT_FALSE(healthy.ok()) << "readmitting a healthy worker is a mistake worth telling";
  auto role = ApplyNodeInput(In(Health::kHealthy), NodeInput::kReadmitAsSpare, "x", 1);
  ASSERT_TRUE(role.ok());
  EXPECT_EQ(role->event_kind, "node.role");
}

TEST(NodeHealthTest, DrainIsAFlagBesideHealth) {
  auto drained = ApplyNodeInput(In(Health::kSuspect), NodeInput::kDrain, "maintenance", 1);
  ASSERT_TRUE(drained.ok());
  EXPECT_TRUE(drained->next.drained);
  EXPECT_EQ(drained->next.health, Health::kSuspect);
  EXPECT_EQ(drained->event_kind, "node.drain");
  auto twice = ApplyNodeInput(drained->next, NodeInput::kDrain, "again", 2);
  EXPECT_FALSE(twice->changed);
  EXPECT_FALSE(ApplyNodeInput(drained->next, NodeInput::kUndrain, "done", 3)->next.drained);
}

}  // namespace
}  // namespace bulwark::controller
