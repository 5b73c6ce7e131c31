// A local cluster for the browser and metrics tests: started with bulwarkctl, read from its
// cluster.json, called through the REST API with the operator token, always torn down.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export class LocalCluster {
  constructor(bin, name) {
    this.bin = bin;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `bulwark-${name}-`));
  }

  ctl(...args) {
    return execFileSync(path.join(this.bin, 'bulwarkctl'), ['--dir', this.dir, ...args], { encoding: 'utf8' });
  }

  up(...args) {
    this.ctl('cluster', 'up', ...args);
    const state = JSON.parse(fs.readFileSync(path.join(this.dir, 'cluster.json'), 'utf8'));
    this.url = state.controller.url;
    this.token = fs.readFileSync(state.operator_token_file, 'utf8').trim();
    this.agents = state.agents;
    return this;
  }

  down() {
    try {
      this.ctl('cluster', 'down');
    } catch (e) {
      console.error(`cluster down failed: ${e.message}`);
    }
  }

  async api(method, route, body) {
    const response = await fetch(this.url + route, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text}`);
    return text.startsWith('{') ? JSON.parse(text) : text;
  }

  // Polls `probe` (async, truthy when done) every 200 ms; fails naming `what` after `ms`.
  async until(what, probe, ms = 30000) {
    const end = Date.now() + ms;
    for (;;) {
      const value = await probe().catch(() => undefined);
      if (value) return value;
      if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  // The reference trainer on `nodes` nodes, snapshotted every step, RS(2,1).
  submitTrainer(repo, { nodes = 4, steps = 300 } = {}) {
    return this.api('POST', '/v1/jobs', {
      name: 'dashboard-train',
      command: [path.join(this.bin, 'bulwark-train'), '--config', path.join(repo, 'trainer/configs/tiny.yaml'), '--steps', String(steps)],
      nodes,
      snapshot: { every_steps: 1, k: 2, m: 1 },
    });
  }
}

export function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}
