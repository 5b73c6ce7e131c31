#!/usr/bin/env bash
# The Helm chart, checked without a cluster (Helm is not packaged for Debian; see the
# README's "Helm chart" for what is and is not validated):
#   1. chartcheck (Go's text/template with sprig, as Helm renders) renders it with the
#      default values and with every option changed, and checks every object's names,
#      labels and references; a chart with a broken reference must fail;
#   2. the controller and agent configs it renders pass the daemons' own config loaders;
#   3. the ServiceMonitor is refused, by name, on a cluster without its CRDs;
#   4. the example training pod passes the same checks;
#   5. every query of the Grafana dashboard parses (promtool check rules).
# Usage: chart_test.sh SOURCE_DIR BIN_DIR WORK_DIR
set -euo pipefail
src=$1 bin=$2 work=$3
chart="$src/helm/bulwark"
rm -rf "$work" && mkdir -p "$work"
export GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$work/gocache"
command -v go >/dev/null || { echo "chart_test: go is missing (scripts/install-deps installs golang-go)"; exit 1; }
(cd "$src/tests/helm/chartcheck" && go build -o "$work/chartcheck" .)
check="$work/chartcheck"
fail() { echo "chart_test: FAILED: $*"; exit 1; }

echo "== defaults"
"$check" -chart "$chart" -out "$work/default"
"$bin/bulwark-controller" --check-config --config "$work/default/configmap-bulwark-controller/controller.yaml"
# What the agent's init container does on a node:
sed -e 's/@NODE_NAME@/gpu-node-17/' -e 's/@HOST_IP@/10.1.2.17/' \
  "$work/default/configmap-bulwark-agent/agent.yaml" >"$work/agent.yaml"
"$bin/bulwark-agent" --check-config --config "$work/agent.yaml"
grep -q '^kind: Secret' "$work/default/manifests.yaml" || fail "no Secret with generated tokens"
grep -q '^kind: ClusterRole$' "$work/default/manifests.yaml" || fail "no ClusterRole for cordoning"
grep -q 'grafana_dashboard: "1"' "$work/default/manifests.yaml" || fail "no Grafana dashboard ConfigMap"

echo "== every option changed"
"$check" -chart "$chart" -values "$src/tests/helm/values-full.yaml" -api-versions monitoring.coreos.com/v1 -out "$work/full"
"$bin/bulwark-controller" --check-config --config "$work/full/configmap-bulwark-controller/controller.yaml"
grep -q '^kind: ServiceMonitor' "$work/full/manifests.yaml" || fail "no ServiceMonitor"
! grep -q '^kind: Secret' "$work/full/manifests.yaml" || fail "a Secret rendered beside an existing one"
! grep -q '^kind: ClusterRole$' "$work/full/manifests.yaml" || fail "cordon RBAC rendered with cordon off"
grep -q 'storageClassName: fast-ssd' "$work/full/manifests.yaml" || fail "the storage class is not used"
grep -q 'image: registry.example.com/bulwark:0.1.0-rc1' "$work/full/manifests.yaml" || fail "the image is not used"

echo "== a ServiceMonitor without its CRDs is refused"
if "$check" -chart "$chart" -values "$src/tests/helm/values-full.yaml" >"$work/no-crd.txt" 2>&1; then
  fail "rendered a ServiceMonitor for a cluster without monitoring.coreos.com/v1"
fi
grep -q "needs the Prometheus Operator's CRDs" "$work/no-crd.txt" || fail "the refusal does not say why: $(cat "$work/no-crd.txt")"

echo "== a broken chart fails the checks"
cp -r "$chart" "$work/broken"
sed -i 's/httpGet: {path: \/readyz, port: http}/httpGet: {path: \/readyz, port: htttp}/' "$work/broken/templates/controller-statefulset.yaml"
if "$check" -chart "$work/broken" >"$work/broken.txt" 2>&1; then fail "a probe on a port that does not exist passed"; fi
grep -q 'readinessProbe port "htttp"' "$work/broken.txt" || fail "the problem is not named: $(cat "$work/broken.txt")"

echo "== the example training pod"
"$check" -manifest "$chart/examples/training-pod.yaml"

echo "== the Grafana dashboard's queries"
"$check" -grafana-rules "$chart/dashboards/bulwark.json" >"$work/grafana-rules.yaml"
promtool check rules "$work/grafana-rules.yaml"
echo "chart_test: passed"
