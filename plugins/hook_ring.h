// The hooked process's side of the event ring: opened once per process and hook library,
// handed to the local agent, and written by the hook's wrappers. With no agent listening the
// process runs unchanged, unrecorded, and says so once on stderr.
//
// Environment: BULWARK_AGENT_SOCKET (default /run/bulwark/agent.sock), BULWARK_JOB_ID,
// BULWARK_RING_SLOTS (default 16384, a power of two).
#pragma once

#include "common/event_ring.h"

namespace bulwark::hook {

// Opens this process's ring for `source` ("pmpi", "nccl"); later calls return the first
// outcome. Returns the writer, or nullptr when there is no ring (no agent, refused).
ring::RingWriter* OpenProcessRing(const char* source, int world_rank);

// Tells the agent this process finished cleanly (its connection closing next is no crash).
void SayFinished();

// Says finished, then closes the ring: for a hook library being unloaded (dlclose), whose
// state would otherwise outlive its code.
void CloseProcessRing();

// The ring if it was opened, else nullptr. Cheap: the wrappers call it on every collective.
ring::RingWriter* ProcessRing();

}  // namespace bulwark::hook
