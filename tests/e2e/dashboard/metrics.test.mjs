// Both /metrics endpoints, after a real fault and recovery, pass `promtool check metrics`
// (Debian's prometheus package) and carry the families operators chart: incidents by
// verdict, recoveries and their phases, recovery points; on agents, collective latency
// histograms per hook and operation, snapshot protection and the spare's rebuild from peers.
// Usage: node metrics.test.mjs BIN_DIR REPO_DIR ARTIFACTS_DIR
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { LocalCluster, check } from './cluster.mjs';

const [bin, repo, artifacts] = process.argv.slice(2);
fs.mkdirSync(artifacts, { recursive: true });

function promtool(name, text) {
  fs.writeFileSync(path.join(artifacts, `${name}.prom`), text);
  const run = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (run.error) throw new Error(`promtool: ${run.error.message} (scripts/install-deps installs Debian's prometheus)`);
  check(run.status === 0, `promtool check metrics passes on ${name}:\n${run.stdout}${run.stderr}`);
}

// The value of the first sample whose line starts with `prefix` (a name and its labels).
function sample(text, prefix) {
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const cluster = new LocalCluster(bin, 'metrics');
try {
  cluster.up('--nodes', '4', '--spares', '1', '--heartbeat-ms', '250', '--local-hang-ms', '1500');
  await cluster.until('5 healthy nodes', async () => (await cluster.api('GET', '/v1/cluster')).nodes.healthy === 5);
  const job = await cluster.submitTrainer(repo, { steps: 400 });
  await cluster.until('a recovery point', async () => (await cluster.api('GET', `/v1/jobs/${job.id}/snapshots`)).recovery_point >= 5);
  await cluster.api('POST', '/v1/injections', { kind: 'kill-rank', node: 'node-02', job: job.id });
  await cluster.until('the job running again after its recovery', async () => {
    const j = await cluster.api('GET', `/v1/jobs/${job.id}`);
    return j.restarts === 1 && j.state === 'running';
  }, 60000);

  const controller = await cluster.api('GET', '/metrics');
  promtool('controller', controller);
  check(sample(controller, 'bulwark_incidents_opened_total{verdict="crash"}') >= 1, 'a crash incident is counted');
  check(sample(controller, 'bulwark_recoveries_total{trigger="verdict"}') === 1, 'one recovery by verdict is counted');
  check(sample(controller, 'bulwark_recovery_phase_duration_seconds_count{phase="total"}') === 1, 'its MTTR is observed');
  check(sample(controller, `bulwark_snapshot_recovery_point_step{job="${job.id}"}`) >= 5, 'the recovery point is exported');
  check(sample(controller, 'bulwark_nodes{health="isolated"}') === 1, 'the fenced node counts as isolated');

  const spare = (await cluster.api('GET', `/v1/jobs/${job.id}`)).placement.find((n) => n.startsWith('spare'));
  check(spare, 'the job was placed on the spare');
  let seenHistogram = false;
  for (const node of (await cluster.api('GET', '/v1/nodes')).nodes) {
    const text = await (await fetch(`${node.agent_url}/metrics`)).text();
    promtool(node.name, text);
    seenHistogram ||= sample(text, 'bulwark_agent_collective_duration_seconds_count{hook="pmpi",') > 0;
    if (node.name === spare) {
      check(sample(text, 'bulwark_agent_snapshot_rebuild_duration_seconds_count') >= 1, `${spare} rebuilt its state from peers`);
      check(sample(text, 'bulwark_agent_snapshot_rebuilt_bytes_total') > 0, `${spare} counts the bytes it rebuilt`);
    }
  }
  check(seenHistogram, 'an agent exports the collective latency histogram of its hooked ranks');

  // Every metric the Grafana dashboard charts is one of these endpoints' (a renamed metric
  // would leave a panel empty).
  const scraped = fs.readdirSync(artifacts).filter((f) => f.endsWith('.prom')).map((f) => fs.readFileSync(path.join(artifacts, f), 'utf8')).join('\n');
  const dashboard = JSON.parse(fs.readFileSync(path.join(repo, 'helm/bulwark/dashboards/bulwark.json'), 'utf8'));
  const charted = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/bulwark_[a-z_]+/g) || [])));
  for (const name of charted) {
    check(new RegExp(`^${name}[{ ]`, 'm').test(scraped), `the Grafana dashboard's ${name} is exported`);
  }
  console.log(`metrics test passed; the scraped text is in ${artifacts}`);
} catch (e) {
  console.error(e.stack || e.message);
  process.exitCode = 1;
} finally {
  cluster.down();
}
