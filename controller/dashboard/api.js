// The controller's REST API, as the page calls it: the operator's token (kept for this tab
// only) rides as a bearer token, and an error keeps the controller's own message.
const KEY = 'bulwark.operator_token';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function token() { return sessionStorage.getItem(KEY) || ''; }
export function setToken(value) { sessionStorage.setItem(KEY, value.trim()); }

// `make demo` prints the dashboard's address with "#token=…" (optionally "&/view/id"): the
// fragment never reaches a server or a log; the token is kept for the tab and taken off the
// address bar, and the view named after it opens.
export function takeTokenFromAddress() {
  const m = location.hash.match(/^#token=([^&]+)&?(.*)$/);
  if (!m) return;
  setToken(decodeURIComponent(m[1]));
  history.replaceState(null, '', location.pathname + '#' + (m[2] || '/'));
}

async function call(method, path, body) {
  const headers = {};
  if (token()) headers.Authorization = 'Bearer ' + token();
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let data;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { error: text };
  }
  if (!response.ok) throw new ApiError(response.status, data.error || response.statusText);
  return data;
}

export const get = (path) => call('GET', path);
export const post = (path, body = {}) => call('POST', path, body);
