/* The C ABI from C: a trainer in another language sees only bulwark_snapshot.h. */
#include "snapshot/bulwark_snapshot.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHECK(cond)                                                    \
  do {                                                                 \
    if (!(cond)) {                                                     \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      return 1;                                                        \
    }                                                                  \
  } while (0)

int main(void) {
  char job[64];
  snprintf(job, sizeof(job), "c-abi-%d", (int)getpid());
  bulwark_snapshot* s = NULL;
  CHECK(bulwark_snapshot_open(job, 0, 1, 0, &s) == 0);
  double weights[64];
  for (int i = 0; i < 64; ++i) weights[i] = i * 0.5;
  CHECK(bulwark_snapshot_begin(s, 7) == 0);
  CHECK(bulwark_snapshot_add(s, "weights", weights, sizeof(weights)) == 0);
  CHECK(bulwark_snapshot_add(s, "weights", weights, sizeof(weights)) == -1);
  CHECK(strcmp(bulwark_snapshot_error(s), "buffer 'weights' added twice to step 7") == 0);
  CHECK(bulwark_snapshot_commit(s) == 0);
  CHECK(strcmp(bulwark_snapshot_error(s), "") == 0);
  uint64_t step = 0;
  CHECK(bulwark_snapshot_latest(s, &step) == 0 && step == 7);
  double back[64] = {0};
  CHECK(bulwark_snapshot_restore(s, 7, "weights", back, sizeof(back)) == 0);
  CHECK(memcmp(back, weights, sizeof(back)) == 0);
  CHECK(bulwark_snapshot_restore(s, 7, "missing", back, sizeof(back)) == -1);
  CHECK(strcmp(bulwark_snapshot_error(s), "step 7 has no buffer 'missing'") == 0);
  bulwark_snapshot_close(s);

  bulwark_snapshot* bad = NULL;
  CHECK(bulwark_snapshot_open("no/slashes", 0, 1, 0, &bad) == -1);
  CHECK(strstr(bulwark_snapshot_error(bad), "job id 'no/slashes'") != NULL);
  CHECK(bulwark_snapshot_begin(bad, 1) == -1);
  bulwark_snapshot_close(bad);
  /* The agent removes a job's snapshot memory when the job ends; here the test does. */
  const char* suffixes[] = {"ctl", "a", "b"};
  for (int i = 0; i < 3; ++i) {
    char name[128];
    snprintf(name, sizeof(name), "/bulwark.%s.r0.%s", job, suffixes[i]);
    shm_unlink(name);
  }
  puts("c abi ok");
  return 0;
}
