// fill-disk: takes the free space of the filesystem under a directory (the controller's
// database), leaving `leave_bytes`, with one preallocated file, so the operator can watch
// what the controller does when its disk is full; removing the file heals it.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace bulwark::controller {

struct DiskFill {
  std::string file;
  uint64_t bytes = 0;       // taken
  uint64_t free_after = 0;  // left free
};

// Refuses when more than `max_bytes` would have to be taken (a database on the machine's
// big root filesystem, say): the error says so and how to give it a filesystem of its own.
Result<DiskFill> FillDisk(const std::string& dir, const std::string& file_name, uint64_t leave_bytes, uint64_t max_bytes);
// Removes the file; a file already gone is no error.
Status UnfillDisk(const std::string& file);

}  // namespace bulwark::controller
