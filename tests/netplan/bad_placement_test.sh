#!/usr/bin/env bash
# bulwarkctl plan placement on bad input: exit 2 and an error that names the file, the line
# and what is wrong, for a cluster with an unknown NIC class, a job without a model, a
# pipeline that does not divide the job's nodes, and a job bigger than the cluster.
# Usage: bad_placement_test.sh BULWARKCTL SOURCE_DIR
set -uo pipefail
ctl=$1 src=$2 tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cluster=$src/netplan/examples/mixed-cluster.yaml job=$src/netplan/examples/gpt-job.yaml
fail=0
expect() {  # expect WHAT CLUSTER JOB: exit 2 and WHAT in the output
  local out rc
  out=$("$ctl" plan placement --cluster "$2" --job "$3" 2>&1)
  rc=$?
  echo "$out"
  [ "$rc" -eq 2 ] || { echo "FAIL: expected exit code 2, got $rc"; fail=1; }
  grep -qF -- "$1" <<<"$out" || { echo "FAIL: the error does not say: $1"; fail=1; }
}
printf 'name: bad\nnodes:\n  - {prefix: ib-, count: 4, nic: ib}\n  - {name: op-1, nic: omnipath}\n' >"$tmp/cluster.yaml"
expect "cluster.yaml:4: nodes[1].nic: 'omnipath' is not a NIC class" "$tmp/cluster.yaml" "$job"
printf 'name: plain\ncommand: [/bin/true]\nnodes: 4\n' >"$tmp/plain.yaml"
expect "plain.yaml: the job has no model: section" "$cluster" "$tmp/plain.yaml"
sed 's/pipeline_stages: 4/pipeline_stages: 3/' "$job" >"$tmp/three.yaml"
expect "three.yaml:9: model.pipeline_stages: 3 stages do not divide the job's 16 nodes" "$cluster" "$tmp/three.yaml"
sed 's/^nodes: 16/nodes: 32/' "$job" >"$tmp/big.yaml"
expect "the job needs 32 nodes (pp 4 x dp 8); 24 are candidates" "$cluster" "$tmp/big.yaml"
exit $fail
