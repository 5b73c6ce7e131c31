/* The snapshot client's plain C ABI, for trainers in any language (a PyTorch or JAX
 * extension, say). Every call returns 0 on success or -1 on failure, when
 * bulwark_snapshot_error() says why. No C++ exception crosses this boundary.
 *
 *   bulwark_snapshot* s;
 *   bulwark_snapshot_open("job-7", rank, world_size, 0, &s);
 *   bulwark_snapshot_begin(s, step);
 *   bulwark_snapshot_add(s, "weights", ptr, bytes);   // records the buffer, no copy yet
 *   bulwark_snapshot_commit(s);                        // the one copy; atomic
 *   ...
 *   uint64_t step; if (bulwark_snapshot_latest(s, &step) == 0) bulwark_snapshot_restore(s, step, "weights", ptr, bytes);
 *   bulwark_snapshot_close(s);
 *
 * The shared-memory prefix comes from $BULWARK_SNAPSHOT_PREFIX (default "bulwark"). */
#ifndef BULWARK_SNAPSHOT_H_
#define BULWARK_SNAPSHOT_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bulwark_snapshot bulwark_snapshot;

/* world_size: the job's ranks (0: unknown; the agent needs it to know when every rank is
 * protected). budget_bytes caps one snapshot (0: no cap). On failure *out is a handle whose
 * only use is bulwark_snapshot_error() and bulwark_snapshot_close(). */
int bulwark_snapshot_open(const char* job, int rank, int world_size, uint64_t budget_bytes, bulwark_snapshot** out);
int bulwark_snapshot_begin(bulwark_snapshot* s, uint64_t step);
int bulwark_snapshot_add(bulwark_snapshot* s, const char* name, const void* data, size_t bytes);
int bulwark_snapshot_commit(bulwark_snapshot* s);
/* The newest committed step; -1 when there is none. */
int bulwark_snapshot_latest(bulwark_snapshot* s, uint64_t* step);
int bulwark_snapshot_restore(bulwark_snapshot* s, uint64_t step, const char* name, void* data, size_t bytes);
/* After restoring `step`: makes it the committed version and drops a newer one. */
int bulwark_snapshot_roll_back(bulwark_snapshot* s, uint64_t step);
/* The last failure's message ("" after a success); valid until the next call on s. */
const char* bulwark_snapshot_error(const bulwark_snapshot* s);
void bulwark_snapshot_close(bulwark_snapshot* s);

#ifdef __cplusplus
}
#endif

#endif
