// bulwarkctl's side of fault injection: the request `inject KIND --node … --for …` sends
// to POST /v1/injections, and the table `injections` prints. Pure: no I/O.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>

#include "common/status.h"

namespace bulwark::ctl {

// The request body for `inject KIND` with its flags (node, job, rank, for, percent); the
// controller validates the rest and names what is wrong.
Result<nlohmann::json> InjectionRequest(const std::string& kind, const std::map<std::string, std::string>& flags);

// One line per injection: id, kind, target, state, duration, what was done or why not.
std::string InjectionsTable(const nlohmann::json& injections);

// "inj-000003: hang-rank on node-02 (rank 1 of job-000001): active for 5 s".
std::string InjectionLine(const nlohmann::json& injection);

}  // namespace bulwark::ctl
