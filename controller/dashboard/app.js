// The dashboard: routes (#/, #/node/N, #/job/ID, #/incident/ID, #/network), fetches what a
// view needs, and re-renders when the controller's event log moves (a long-poll) or every
// two seconds (step rates). Actions need the operator token and a confirmation.
import { ApiError, get, post, setToken, takeTokenFromAddress } from './api.js';
import * as views from './views.js';

const main = document.getElementById('main');
const live = document.getElementById('live');
const samples = new Map();  // job id -> [{t, step}]: the step rate is the slope
let lastEvent = 0;
let rendering = false;
let retryNow = () => {};  // ends the event loop's wait after an error (a token just arrived)

function route() {
  const [, kind, id] = (location.hash.replace(/^#\/?/, '/').match(/^\/([a-z]*)\/?(.*)$/) || []);
  return { kind: kind || 'overview', id: decodeURIComponent(id || '') };
}

function sample(jobId, step) {
  if (step == null) return [];
  const list = samples.get(jobId) || [];
  const t = Date.now();
  if (!list.length || list[list.length - 1].step !== step || t - list[list.length - 1].t > 5000) list.push({ t, step });
  while (list.length > 300) list.shift();
  samples.set(jobId, list);
  return list;
}

const snapshotsOf = (id) => get(`/v1/jobs/${encodeURIComponent(id)}/snapshots`).catch(() => null);

async function load({ kind, id }) {
  if (kind === 'node') {
    const [node, lateness] = await Promise.all([get(`/v1/nodes/${encodeURIComponent(id)}`), get('/v1/diagnosis/lateness')]);
    return views.node({ node, lateness });
  }
  if (kind === 'job') {
    const [job, snapshots, lateness] = await Promise.all([get(`/v1/jobs/${encodeURIComponent(id)}`), snapshotsOf(id), get('/v1/diagnosis/lateness')]);
    return views.job({ job, snapshots, lateness, samples: sample(id, snapshots?.protect_step) });
  }
  if (kind === 'incident') {
    const [incident, jobs] = await Promise.all([get(`/v1/incidents/${encodeURIComponent(id)}`), get('/v1/jobs')]);
    return views.incident({ incident, jobs: jobs.jobs });
  }
  if (kind === 'network') return views.network({ nodes: (await get('/v1/nodes')).nodes });
  const [cluster, nodes, jobs, incidents] = await Promise.all([get('/v1/cluster'), get('/v1/nodes'), get('/v1/jobs'), get('/v1/incidents')]);
  // Recovery points of the live jobs, and their step samples so a job's page opens with a history.
  await Promise.all(jobs.jobs.filter((j) => ['running', 'recovering'].includes(j.state)).map(async (j) => {
    const s = await snapshotsOf(j.id);
    j.recovery_point = s?.recovery_point;
    sample(j.id, s?.protect_step);
  }));
  return views.overview({ cluster, nodes: nodes.nodes, jobs: jobs.jobs, incidents: incidents.incidents });
}

async function render() {
  if (rendering) return;
  rendering = true;
  try {
    const html = await load(route());
    main.innerHTML = html;
    document.getElementById('login').hidden = true;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      showLogin(e.message);
    } else {
      main.innerHTML = `<section class="wide"><h2>Error</h2><p>${String(e.message).replace(/</g, '&lt;')}</p></section>`;
    }
  } finally {
    rendering = false;
  }
}

function showLogin(why) {
  document.getElementById('login-why').textContent = why;
  document.getElementById('login').hidden = false;
}

function toast(text, error = false) {
  const t = document.getElementById('toast');
  t.textContent = text;
  t.className = error ? 'error' : '';
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 8000);
}

// Resolves true when the operator confirms.
function confirmAction(text) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
  });
}

const ACTIONS = {
  recover: (el) => ({ text: `Recover job ${el.dataset.job} from its recovery point? Its ranks are stopped and relaunched.`,
                      path: `/v1/jobs/${encodeURIComponent(el.dataset.job)}/recover`, body: { reason: 'operator, from the dashboard' } }),
  drain: (el) => ({ text: `Drain ${el.dataset.node}? No new work is placed on it.`, path: `/v1/nodes/${encodeURIComponent(el.dataset.node)}/drain`,
                    body: { reason: 'operator, from the dashboard' } }),
  undrain: (el) => ({ text: `Undrain ${el.dataset.node}?`, path: `/v1/nodes/${encodeURIComponent(el.dataset.node)}/undrain`, body: { reason: 'operator, from the dashboard' } }),
  readmit: (el) => ({ text: `Readmit ${el.dataset.node} as a worker?`, path: `/v1/nodes/${encodeURIComponent(el.dataset.node)}/readmit`,
                      body: { reason: 'operator, from the dashboard', as: 'worker' } }),
};

main.addEventListener('click', async (event) => {
  const el = event.target.closest('[data-action]');
  if (!el || !ACTIONS[el.dataset.action]) return;
  const action = ACTIONS[el.dataset.action](el);
  if (!(await confirmAction(action.text))) return;
  try {
    await post(action.path, action.body);
    toast(`${el.dataset.action}: accepted`);
  } catch (e) {
    if (e.status === 401) showLogin(e.message);
    toast(`${el.dataset.action} refused: ${e.message}`, true);
  }
  render();
});

document.getElementById('login').addEventListener('submit', (event) => {
  event.preventDefault();
  setToken(document.getElementById('token').value);
  retryNow();
  render();
});

// Follows the event log: every new event re-renders the view at once.
async function follow() {
  let wait = 0;  // the first ask (and the first after an error) answers at once: the indicator is right at once
  for (;;) {
    try {
      const answer = await get(`/v1/events?since=${lastEvent}&limit=200&wait_ms=${wait}`);
      wait = 15000;
      const moved = answer.last_event_id !== lastEvent;
      lastEvent = answer.last_event_id;
      live.className = 'live ok';
      live.textContent = `live · event ${lastEvent}`;
      if (moved) render();
    } catch (e) {
      live.className = 'live down';
      live.textContent = e.status === 401 ? 'needs the operator token' : 'controller unreachable, retrying';
      wait = 0;
      await new Promise((r) => {
        retryNow = r;
        setTimeout(r, 2000);
      });
    }
  }
}

takeTokenFromAddress();
window.addEventListener('hashchange', () => {
  takeTokenFromAddress();
  retryNow();
  render();
});
setInterval(render, 2000);
render();
get('/v1/cluster').then((c) => { lastEvent = c.last_event_id; }).catch(() => {}).finally(follow);
