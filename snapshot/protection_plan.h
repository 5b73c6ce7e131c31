// Which nodes protect which: the nodes are cut into groups of k whose shards are the data
// blocks of one RS(k,m) code, and each group's m parity blocks are held by m nodes outside
// it. Groups are drawn across failure domains (racks), and parity holders prefer domains the
// group does not use, so losing one domain costs a group as few blocks as the layout
// allows. Pure: nodes in, plan out; and, given lost nodes, what to fetch to rebuild each
// lost shard, or why it cannot be rebuilt.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace bulwark::snapshot {

struct PlanNode {
  std::string name;
  std::string domain;  // failure domain (rack); empty when unknown
};

struct ProtectionGroup {
  uint32_t id = 0;
  std::vector<std::string> data;    // block i is the shard of data[i] (a short last group has fewer)
  std::vector<std::string> parity;  // block k + j is held by parity[j]
};

struct ProtectionPlan {
  int k = 0, m = 0;  // the code every group uses; a group with fewer members pads with zero blocks
  std::vector<ProtectionGroup> groups;
  // The group a node's shard belongs to, and its block index; false when it is not a member.
  bool Find(const std::string& node, uint32_t* group, int* block) const;
};

Result<ProtectionPlan> PlanProtection(std::vector<PlanNode> nodes, int k, int m);

// One fragment to fetch: block `index` of the group, from `node` (empty: a zero block that
// pads a short group, known to everyone).
struct Fetch {
  int index = 0;
  std::string node;
  bool operator==(const Fetch&) const = default;
};

struct Rebuild {
  std::string lost_node;
  uint32_t group = 0;
  int block = 0;             // the lost shard's block index
  std::vector<Fetch> fetch;  // k fragments that determine it
};

// Plans the rebuild of every lost node's shard. Fails, naming the groups, nodes and their
// ranks' shards that cannot come back, when a group lost more than m of its blocks.
Result<std::vector<Rebuild>> PlanRebuild(const ProtectionPlan& plan, const std::set<std::string>& lost);

}  // namespace bulwark::snapshot
