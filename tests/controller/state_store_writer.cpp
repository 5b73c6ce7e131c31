// Test helper: commits numbered batches to a state store until killed, printing
// "ack N" after commit N returns. Each commit writes node n<N>, job j<N> and one event,
// alternating synced and unsynced commits.
#include <cstdio>
#include <string>

#include "controller/state_store.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: state_store_writer DIR\n");
    return 2;
  }
  auto store = bulwark::controller::StateStore::Open(argv[1]);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().message().c_str());
    return 1;
  }
  using bulwark::controller::RecordKind;
  for (long n = 0;; ++n) {
    const std::string v = "v" + std::to_string(n);
    auto ids = store.value()->Commit({{RecordKind::kNodes, "n" + std::to_string(n), v},
                                      {RecordKind::kJobs, "j" + std::to_string(n), v}},
                                     {"{\"n\":" + std::to_string(n) + "}"}, n % 2 == 0);
    if (!ids.ok()) {
      std::fprintf(stderr, "%s\n", ids.status().message().c_str());
      return 1;
    }
    std::printf("ack %ld\n", n);
    std::fflush(stdout);
  }
}
