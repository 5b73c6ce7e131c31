// Each view: the data the app fetched in, an HTML string out. No fetching, no state here.
import { esc, heatMap, lineChart, phaseBars, PHASES } from './plots.js';

const badge = (s) => `<span class="badge ${esc(s)}">${esc(s)}</span>`;
const link = (kind, id) => `<a href="#/${kind}/${encodeURIComponent(id)}">${esc(id)}</a>`;
const when = (ms) => (ms ? new Date(ms).toLocaleTimeString() : '—');
const seconds = (ms) => (ms == null ? '—' : `${(ms / 1000).toFixed(1)} s`);
const ACTIVE = new Set(['pending', 'running', 'recovering']);

function recoveryBars(jobs) {
  const bars = [];
  for (const job of jobs) {
    for (const r of job.recoveries || []) {
      const parts = {};
      for (const p of PHASES) parts[p] = (r.mttr_ms?.[p] || 0) / 1000;
      bars.push({ label: `${job.id}·${bars.length + 1}`, at: r.detected_ms, parts });
    }
  }
  return bars.sort((a, b) => a.at - b.at).slice(-24);
}

export function overview({ cluster, nodes, jobs, incidents }) {
  const byHealth = {};
  for (const n of nodes) (byHealth[n.health] ||= []).push(n);
  const tiles = [
    ['nodes', cluster.nodes.total], ['online', cluster.nodes.online], ['spares free', cluster.nodes.spares_available],
    ['jobs running', cluster.jobs.running || 0], ['recovering', cluster.jobs.recovering || 0], ['incidents', cluster.incidents.total],
  ].map(([k, v]) => `<div class="tile"><b>${esc(v)}</b>${esc(k)}</div>`).join('');
  const health = Object.entries(byHealth).map(([h, list]) =>
    `<tr><td>${badge(h)}</td><td>${list.map((n) => link('node', n.name) + (n.drained ? ' (drained)' : '') + (n.role === 'spare' ? ' (spare)' : '')).join(', ')}</td></tr>`).join('');
  const jobRows = jobs.map((j) => `<tr><td>${link('job', j.id)}</td><td>${esc(j.spec.name)}</td><td>${badge(j.state)}</td>
      <td>${esc((j.placement || []).join(', '))}</td><td>${esc(j.recovery_point ?? '—')}</td><td>${esc(j.restarts)}</td></tr>`).join('');
  const open = [...incidents].sort((a, b) => b.opened_ms - a.opened_ms).slice(0, 12);
  const incidentRows = open.map((i) => `<tr><td>${link('incident', i.id)}</td><td>${esc(i.verdict)}</td><td>${badge(i.state)}</td>
      <td>${esc((i.nodes || []).join(', ') || 'no node')}</td><td>${when(i.opened_ms)}</td></tr>`).join('');
  return `<h1>Cluster</h1>
    <section class="wide"><div class="tiles">${tiles}</div></section>
    <section><h2>Nodes by health</h2><table>${health || '<tr><td class="muted">No node registered.</td></tr>'}</table></section>
    <section class="wide"><h2>Jobs and recovery points</h2><table><tr><th>id</th><th>name</th><th>state</th><th>nodes</th><th>recovery point</th><th>restarts</th></tr>
      ${jobRows || '<tr><td colspan="6" class="muted">No job.</td></tr>'}</table></section>
    <section id="incidents"><h2>Incidents</h2><table><tr><th>id</th><th>verdict</th><th>state</th><th>blames</th><th>opened</th></tr>
      ${incidentRows || '<tr><td colspan="5" class="muted">No incident.</td></tr>'}</table></section>
    <section><h2>MTTR history (seconds, by phase)</h2>${phaseBars(recoveryBars(jobs))}</section>`;
}

export function node({ node, lateness }) {
  const nics = (node.nics || []).map((n) => `<tr><td>${esc(n.name)}</td><td>${esc(n.type)}</td><td>${esc(n.speed_gbps)} Gb/s</td><td>${esc(n.rail)}</td><td>${esc(n.address)}</td></tr>`).join('');
  const checks = (node.commands || []).filter((c) => c.kind === 'self_check').reverse().map((c) =>
    `<tr><td>${esc(c.id)}</td><td>${badge(c.state)}</td><td>${c.result?.passed === true ? 'passed' : c.result?.passed === false ? 'failed' : '—'}</td><td>${checkList(c.result)}</td></tr>`).join('');
  const ranks = node.last_telemetry?.ranks || [];
  const timing = ranks.flatMap((r) => (r.comms || []).map((c) => `<tr><td>${esc(r.rank)}</td><td>${esc(c.comm)}</td><td>${esc(c.op)}</td>
      <td>${esc(c.calls)}</td><td>${(c.p50_us / 1000).toFixed(2)} ms</td><td>${(c.p99_us / 1000).toFixed(2)} ms</td><td>${(c.in_call_us / 1000).toFixed(1)} ms</td></tr>`)).join('');
  const actions = node.drained
    ? `<button data-action="undrain" data-node="${esc(node.name)}">Undrain</button>`
    : `<button class="danger" data-action="drain" data-node="${esc(node.name)}">Drain</button>`;
  const readmit = ['isolated', 'suspect'].includes(node.health) ? ` <button data-action="readmit" data-node="${esc(node.name)}">Readmit</button>` : '';
  const mine = (lateness.communicators || []).filter((c) => c.ranks.some((r) => r.node === node.name));
  return `<h1>Node ${esc(node.name)} ${badge(node.health)} ${node.drained ? badge('drained') : ''}</h1>
    <section><h2>Node</h2><table>
      <tr><th>role</th><td>${esc(node.role)}</td></tr><tr><th>failure domain</th><td>rack ${esc(node.failure_domain?.rack)}, leaf ${esc(node.failure_domain?.leaf)}</td></tr>
      <tr><th>host</th><td>${esc(node.hostname)} (${esc((node.addresses || []).join(', '))})</td></tr>
      <tr><th>heartbeat</th><td>${node.online ? 'online' : 'offline'}, ${seconds(node.heartbeat_age_ms)} ago</td></tr>
      <tr><th>why</th><td>${esc(node.reason || '—')}</td></tr><tr><th>GPUs / CPUs</th><td>${esc(node.gpus)} / ${esc(node.cpus)}</td></tr>
      <tr><th>actions</th><td>${actions}${readmit}</td></tr></table></section>
    <section><h2>NICs</h2><table><tr><th>name</th><th>type</th><th>speed</th><th>rail</th><th>address</th></tr>${nics || '<tr><td class="muted">none</td></tr>'}</table></section>
    <section class="wide"><h2>Per-rank collective timings</h2><table><tr><th>rank</th><th>communicator</th><th>op</th><th>calls</th><th>p50</th><th>p99</th><th>inside now</th></tr>
      ${timing || '<tr><td colspan="7" class="muted">No hooked rank on this node.</td></tr>'}</table></section>
    <section class="wide"><h2>Self-check history</h2><table><tr><th>command</th><th>state</th><th>result</th><th>detail</th></tr>${checks || '<tr><td class="muted">No self-check run since the controller started.</td></tr>'}</table></section>
    ${mine.length ? `<section class="wide"><h2>Lateness of its communicators</h2>${mine.map(latenessBlock).join('')}</section>` : ''}`;
}

// A self-check's probes, one line each; anything else as its JSON.
function checkList(result) {
  if (!Array.isArray(result?.checks)) return `<pre>${esc(JSON.stringify(result ?? {}, null, 1))}</pre>`;
  return result.checks.map((k) => `<div>${k.skipped ? '–' : k.ok ? '✓' : '✗'} <b>${esc(k.name)}</b> <span class="muted">${esc(k.detail ?? '')}</span></div>`).join('');
}

function latenessBlock(comm) {
  const cols = comm.collectives.map((c) => c.seq);
  const rows = comm.ranks.map((r) => `rank ${r.rank} · ${r.node}`);
  const cell = (ri, ci) => comm.collectives[ci].lateness_us[String(comm.ranks[ri].rank)];
  const scores = comm.ranks.map((r) => `<tr><td>rank ${esc(r.rank)}</td><td>${esc(r.node)}</td><td>${(100 * (comm.straggler_score[String(r.rank)] || 0)).toFixed(0)}%</td></tr>`).join('');
  return `<h3>communicator ${esc(comm.comm)}</h3>${heatMap(rows, cols, cell)}
    <table class="scores"><tr><th>rank</th><th>node</th><th>straggler score (last to arrive)</th></tr>${scores}</table>`;
}

export function job({ job, snapshots, lateness, samples }) {
  const perNode = job.spec.ranks_per_node || 1;
  const placement = (job.placement || []).map((n, i) => `<tr><td>${link('node', n)}</td><td>${i * perNode}–${(i + 1) * perNode - 1}</td></tr>`).join('');
  // Step time between samples where the job moved on (a stall shows as one long step).
  const stepTime = [];
  for (let i = 1; i < samples.length; i++) {
    const dt = samples[i].t - samples[i - 1].t, ds = samples[i].step - samples[i - 1].step;
    if (dt > 0 && ds > 0) stepTime.push({ x: samples[i].t, y: dt / ds });
  }
  const latest = stepTime.length ? stepTime[stepTime.length - 1].y : null;
  const point = snapshots?.recovery_point, held = snapshots?.protect_step;
  const comms = (lateness.communicators || []).filter((c) => c.ranks.every((r) => (job.placement || []).includes(r.node)));
  const recoveries = [...(job.recoveries || [])].reverse().map((r) => `<tr><td>${when(r.detected_ms)}</td><td>${esc(r.trigger)}</td>
      <td>${esc((r.culprits || []).join(', '))}</td><td>${r.incident ? link('incident', r.incident) : '—'}</td><td>${seconds(r.mttr_ms?.total)}</td><td>${esc(r.restored_step ?? r.restore_step ?? '—')}</td></tr>`).join('');
  const now = job.recovery ? `<p>${badge('recovering')} phase <b>${esc(job.recovery.phase)}</b>: ${esc(job.recovery.reason)} ${job.recovery.waiting_for ? '(waiting for ' + esc(job.recovery.waiting_for) + ')' : ''}</p>` : '';
  const recover = ACTIVE.has(job.state) && job.state !== 'pending'
    ? `<button class="danger" data-action="recover" data-job="${esc(job.id)}">Recover from the recovery point</button>` : '';
  return `<h1>Job ${esc(job.id)} · ${esc(job.spec.name)} ${badge(job.state)}</h1>
    <section><h2>State</h2>${now}<table><tr><th>why</th><td>${esc(job.reason)}</td></tr><tr><th>attempt</th><td>${esc(job.attempt)} (${esc(job.restarts)} restarts)</td></tr>
      <tr><th>snapshot</th><td>every ${esc(job.spec.snapshot.every_steps)} steps, RS(${esc(snapshots?.k ?? job.spec.snapshot.k)},${esc(snapshots?.m ?? job.spec.snapshot.m)})</td></tr>
      <tr><th>recovery point</th><td id="recovery-point">${esc(point ?? '—')}</td></tr><tr><th>newest held</th><td>${esc(held ?? '—')}${point != null && held != null ? ` (protection lag ${held - point} steps)` : ''}</td></tr>
      <tr><th>actions</th><td>${recover || '<span class="muted">none while ' + esc(job.state) + '</span>'}</td></tr></table></section>
    <section><h2>Ranks and nodes</h2><table><tr><th>node</th><th>ranks</th></tr>${placement}</table></section>
    <section class="wide"><h2>Step time (ms per step, from the newest step every rank holds)</h2>
      <p>${latest ? `now ${latest.toFixed(0)} ms per step, ${(1000 / latest).toFixed(1)} steps/s` : '<span class="muted">waiting for the job to move</span>'}</p>
      ${lineChart(stepTime, { yLabel: 'ms per step', xFormat: when })}</section>
    <section class="wide"><h2>Lateness per rank and collective</h2>${comms.length ? comms.map(latenessBlock).join('') : '<p class="muted">No collective timings from this job\'s ranks yet (the ranks run hooked).</p>'}</section>
    <section class="wide"><h2>Recoveries</h2><table><tr><th>detected</th><th>trigger</th><th>culprits</th><th>incident</th><th>MTTR</th><th>restored step</th></tr>${recoveries || '<tr><td colspan="6" class="muted">None.</td></tr>'}</table></section>`;
}

export function incident({ incident: inc, jobs }) {
  let recovery = null, owner = null;
  for (const j of jobs) {
    for (const r of [...(j.recoveries || []), ...(j.recovery ? [j.recovery] : [])]) {
      if (r.incident === inc.id) { recovery = r; owner = j; }
    }
  }
  const marks = recovery ? recovery.marks.map((m) => `<li><time>${when(m.time_ms)}</time> +${((m.time_ms - recovery.detected_ms) / 1000).toFixed(2)} s · ${esc(m.what)}</li>`).join('') : '';
  const phases = recovery ? phaseBars([{ label: inc.id, parts: Object.fromEntries(PHASES.map((p) => [p, (recovery.mttr_ms?.[p] || 0) / 1000])) }], { width: 380 }) : '';
  const notes = (inc.timeline || []).map((n) => `<li><time>${when(n.time_ms)}</time> ${esc(n.note ?? n.what ?? JSON.stringify(n))}</li>`).join('');
  return `<h1>Incident ${esc(inc.id)} · ${esc(inc.verdict)} ${badge(inc.state)}</h1>
    <section><h2>Verdict</h2><table><tr><th>summary</th><td>${esc(inc.summary)}</td></tr><tr><th>confidence</th><td>${esc(inc.confidence)}</td></tr>
      <tr><th>blames</th><td>${(inc.nodes || []).map((n) => link('node', n)).join(', ') || 'no node'}</td></tr><tr><th>ranks</th><td>${esc((inc.ranks || []).join(', ') || '—')}</td></tr>
      <tr><th>opened</th><td>${when(inc.opened_ms)}</td></tr></table></section>
    <section><h2>Recovery: detect → isolate → relaunch → restore → first step</h2>${recovery
      ? `<p>job ${link('job', owner.id)}, MTTR ${seconds(recovery.mttr_ms?.total)}, restored step ${esc(recovery.restored_step ?? recovery.restore_step ?? '—')}</p>${phases}<ul class="timeline">${marks}</ul>`
      : '<p class="muted">No recovery followed this incident.</p>'}</section>
    <section class="wide"><h2>Evidence</h2><pre>${esc(JSON.stringify(inc.detail ?? {}, null, 2))}</pre><ul class="timeline">${notes}</ul></section>`;
}

export function network({ nodes }) {
  const leaves = {};
  for (const n of nodes) (leaves[n.failure_domain?.leaf || n.failure_domain?.rack || 'unknown'] ||= []).push(n);
  const blocks = Object.entries(leaves).sort().map(([leaf, list]) => `<section><h2>leaf ${esc(leaf)}</h2><table>
      <tr><th>node</th><th>health</th><th>NICs</th></tr>${list.map((n) => `<tr><td>${link('node', n.name)}</td><td>${badge(n.health)}</td>
      <td>${(n.nics || []).map((c) => `${esc(c.type)} ${esc(c.speed_gbps)} Gb/s`).join(', ') || '—'}</td></tr>`).join('')}</table></section>`).join('');
  return `<h1>Network</h1><section class="wide"><p>Nodes by leaf switch (their failure domain) and NIC class. Link loads appear
    here once the traffic planner (netplan) assigns paths to the collective flows; until then the controller has no per-link figures to show.</p></section>${blocks}`;
}
