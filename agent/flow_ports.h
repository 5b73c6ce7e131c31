// The source ports the controller's traffic plan gives this node's flows (issue 10): one
// `flow_ports` command per plan (a launch, or a replan after a fabric link changed), kept
// as <work_dir>/flow-ports/<job>.json, replaced whole (written aside, then renamed) so a
// reader never sees half a plan. A RoCE transport reads it to give each queue pair the UDP
// source port that makes its leaf's ECMP hash pick the planned spine.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "common/status.h"

namespace bulwark::agent {

// args: {job, attempt, generation, flows: [...]}. Returns {path, flows, generation}. A job
// name that is not a plain file name (a '/', or a leading '.') is refused. An older
// generation than the file's is ignored (commands can arrive after a newer one).
Result<nlohmann::json> StoreFlowPorts(const std::string& work_dir, const nlohmann::json& args);

}  // namespace bulwark::agent
