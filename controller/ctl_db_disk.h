// The local cluster's database on a filesystem of its own (`cluster up --db-size 256MiB`):
// an ext4 image in the cluster directory, loop-mounted over db/, so that fill-disk fills
// it and not this machine's disk. Needs root and loop devices; nothing else about the
// local cluster does.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace bulwark::ctl {

// Mounts <dir>/db.img on <dir>/db unless it is mounted already. A missing image is made
// (sparse, ext4) when `create_bytes` > 0; with no image and no size there is nothing to do.
Status MountDbDisk(const std::string& dir, uint64_t create_bytes);
// Unmounts <dir>/db if the image is mounted there; the image, and so the state, is kept.
Status UnmountDbDisk(const std::string& dir);

}  // namespace bulwark::ctl
