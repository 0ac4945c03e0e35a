// The page's calls to lockstep's API, with the bearer token the operator saved for this tab.
import { $, toast } from './dom.js';

export const TOKEN_KEY = 'lockstep.token';

/** The saved API token, or ''. */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? localStorage.getItem(TOKEN_KEY) ?? '';
}

/** Calls the API; mutating calls (`auth: true`) carry the token. Rejects with the server's message. */
export async function api(path, options = {}) {
  const headers = { accept: 'application/json', ...(options.headers ?? {}) };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.auth) {
    const t = token();
    if (t) headers.authorization = `Bearer ${t}`;
  }
  const res = await fetch(path, {
    method: options.method ?? 'GET',
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const type = res.headers.get('content-type') ?? '';
  const data = type.includes('json') ? await res.json() : await res.text();
  if (!res.ok) {
    const message = data?.error ? data.error.message : `${res.status} ${res.statusText}`;
    const error = new Error(message);
    error.status = res.status;
    // Every problem with its path (a bad body, a signal that does not match its schema), to show by its field.
    if (Array.isArray(data?.error?.problems)) error.problems = data.error.problems;
    throw error;
  }
  return data;
}

export function reportError(error) {
  toast(error.message, 'error');
  if (error.status === 401 || error.status === 503) $('token-input').focus();
}
