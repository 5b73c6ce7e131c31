#!/usr/bin/env bash
# A bad topology file: bulwarkctl exits 2 and names the file, the line and the element.
# Usage: bad_topology_test.sh BULWARKCTL SOURCE_DIR
set -uo pipefail
out=$("$1" plan traffic --topology "$2/tests/netplan/bad-topology.yaml" --job "$2/netplan/examples/allreduce-job.yaml" 2>&1)
rc=$?
echo "$out"
[ "$rc" -eq 2 ] || { echo "expected exit code 2, got $rc"; exit 1; }
grep -q "bad-topology.yaml:6: hosts\[0\].nics\[1\].leaf: no leaf named 'l1'" <<<"$out" || { echo "the error does not name the line and element"; exit 1; }
