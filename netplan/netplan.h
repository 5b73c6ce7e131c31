// netplan: traffic planning for collective flows on leaf-spine fabrics (issue 10). Pure:
// a topology and a job's placement in, flows, paths, source ports and figures out.
#pragma once

#include "netplan/ecmp.h"
#include "netplan/flow_model.h"
#include "netplan/flows.h"
#include "netplan/iteration_model.h"
#include "netplan/placement.h"
#include "netplan/planner.h"
#include "netplan/report.h"
#include "netplan/topology.h"
