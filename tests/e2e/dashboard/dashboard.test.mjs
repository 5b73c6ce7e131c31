// The dashboard in real headless Chromium (Debian's, driven by playwright-core) against a
// live local cluster: the page asks for the token, shows the cluster, follows a job; a
// fault injected through the API appears as an incident without a reload, the job returns
// to running, the incident shows its recovery timeline, and an action (drain) needs its
// confirmation. Screenshots go to the artifacts folder.
// Usage: node dashboard.test.mjs BIN_DIR REPO_DIR ARTIFACTS_DIR
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { LocalCluster, check } from './cluster.mjs';

const [bin, repo, artifacts] = process.argv.slice(2);
fs.mkdirSync(artifacts, { recursive: true });
const shot = (page, name) => page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });

const cluster = new LocalCluster(bin, 'dashboard');
let browser;
try {
  cluster.up('--nodes', '4', '--spares', '1', '--heartbeat-ms', '250', '--local-hang-ms', '1500');
  await cluster.until('5 healthy nodes', async () => (await cluster.api('GET', '/v1/cluster')).nodes.healthy === 5);
  const job = await cluster.submitTrainer(repo, { steps: 400 });

  // The launch flags that keep Chromium off the network this machine does not have.
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));

  // Without the token: the page says what it needs.
  await page.goto(`${cluster.url}/ui/`);
  await page.locator('#login').waitFor({ state: 'visible' });
  check((await page.locator('#login-why').textContent()).includes('operator token'), 'the login names the operator token');

  // With it (as the demo prints the address): the overview, then the job's page.
  await page.goto(`${cluster.url}/ui/#token=${encodeURIComponent(cluster.token)}`);
  await page.getByRole('heading', { name: 'Cluster' }).waitFor();
  check(!page.url().includes('token='), 'the token is taken off the address bar');
  await page.locator('#live.ok').waitFor({ timeout: 1500 });  // the event long-poll follows at once
  await page.locator(`a[href="#/job/${job.id}"]`).first().waitFor();
  await page.locator('text=node-04').first().waitFor();
  await cluster.until('the job running with a recovery point', async () => {
    const s = await cluster.api('GET', `/v1/jobs/${job.id}/snapshots`);
    return s.recovery_point >= 5;
  });
  await page.locator(`a[href="#/job/${job.id}"]`).first().click();
  await page.locator('#recovery-point').filter({ hasText: /^\d+$/ }).waitFor({ timeout: 10000 });
  await page.locator('svg[aria-label="ms per step"] path').waitFor({ timeout: 15000 });  // three samples make a line
  await page.locator('svg.heatmap').first().waitFor({ timeout: 15000 });
  await shot(page, '1-job-running');

  // A fault through the API; the overview, left open, shows it without a reload.
  await page.goto(`${cluster.url}/ui/#/`);
  await page.getByRole('heading', { name: 'Cluster' }).waitFor();
  await page.evaluate(() => { window.notReloaded = true; });
  await shot(page, '2-overview-before');
  const injection = await cluster.api('POST', '/v1/injections', { kind: 'kill-rank', node: 'node-02', job: job.id });
  const incidentRow = page.locator('#incidents tr', { hasText: 'crash' });
  await incidentRow.waitFor({ timeout: 30000 });
  check((await incidentRow.textContent()).includes('node-02'), 'the crash incident blames node-02');
  const restarted = page.locator('tr', { has: page.locator(`a[href="#/job/${job.id}"]`) }).filter({ has: page.locator('.badge.running') });
  await cluster.until('the job running again after its recovery', async () => (await cluster.api('GET', `/v1/jobs/${job.id}`)).restarts === 1 &&
                      (await cluster.api('GET', `/v1/jobs/${job.id}`)).state === 'running', 60000);
  await restarted.waitFor({ timeout: 10000 });
  check(await page.evaluate(() => window.notReloaded === true), 'the overview updated without a reload');
  check((await page.locator('svg[aria-label="MTTR by phase"] rect').count()) > 5, 'the MTTR history has a bar');
  await shot(page, '3-overview-recovered');

  // The incident: verdict, blamed node, the recovery's timeline to the first step.
  await incidentRow.locator('a').first().click();
  await page.locator('.timeline', { hasText: 'first_step' }).waitFor({ timeout: 10000 });
  check((await page.locator('main').textContent()).includes('node-02'), 'the incident page names node-02');
  await shot(page, '4-incident');
  console.log(`injection ${injection.id}: incident and recovery shown`);

  // An action needs the confirmation: cancelled, nothing happens; confirmed, node-02 is drained.
  await page.goto(`${cluster.url}/ui/#/node/node-02`);
  await page.locator('button[data-action="drain"]').click();
  await page.locator('#confirm[open]').waitFor();
  await page.locator('#confirm button[value="cancel"]').click();
  await new Promise((r) => setTimeout(r, 500));
  check(!(await cluster.api('GET', '/v1/nodes/node-02')).drained, 'a cancelled drain drains nothing');
  await page.locator('button[data-action="drain"]').click();
  await page.locator('#confirm-ok').click();
  await page.locator('h1 .badge.drained').waitFor({ timeout: 10000 });
  check((await cluster.api('GET', '/v1/nodes/node-02')).drained, 'the confirmed drain reached the controller');
  await shot(page, '5-node-drained');

  await page.goto(`${cluster.url}/ui/#/network`);
  await page.getByRole('heading', { name: 'Network' }).waitFor();
  check((await page.locator('section h2', { hasText: 'leaf' }).count()) >= 1, 'the network view groups nodes by leaf');
  await shot(page, '6-network');
  check(errors.length === 0, `no script error on the page (${errors.join('; ')})`);
  console.log(`dashboard test passed; screenshots in ${artifacts}`);
} catch (e) {
  console.error(e.stack || e.message);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
  cluster.down();
}
