import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServeHarness } from './serve-harness.js';
import { serveHarness, TOKEN } from './serve-harness.js';

const MUTATING = [
  { url: '/api/runs', body: { sequence: 'gated' } },
  { url: '/api/runs/some-run/cancel', body: {} },
  { url: '/api/runs/some-run/rerun', body: {} },
  { url: '/api/runs/some-run/tasks/approve/signal', body: { data: { approver: 'ann' } } },
  { url: '/api/ingest', body: { type: 'task.succeeded' } },
] as const;

describe('mutating endpoints with a token configured', () => {
  let h: ServeHarness;
  beforeAll(async () => {
    h = await serveHarness();
  });
  afterAll(() => h.close());

  it.each(MUTATING)('POST $url without Authorization is 401 and says what to send', async ({ url, body }) => {
    const res = await h.app.inject({ method: 'POST', url, payload: body });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="lockstep"');
    expect(res.json()).toEqual({
      error: {
        code: 'UNAUTHORIZED',
        message: 'missing Authorization header: send "Authorization: Bearer <token>" with the token from LOCKSTEP_TOKEN',
      },
    });
  });

  it.each(MUTATING)('POST $url with a wrong token is 401', async ({ url, body }) => {
    const res = await h.app.inject({ method: 'POST', url, payload: body, headers: { authorization: 'Bearer not-the-token' } });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: 'the bearer token does not match LOCKSTEP_TOKEN' } });
  });

  it('rejects another scheme and a bearer header without a token', async () => {
    const basic = await h.app.inject({
      method: 'POST',
      url: '/api/runs',
      payload: {},
      headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` },
    });
    expect(basic.statusCode).toBe(401);
    expect(basic.json().error.message).toBe('expected "Authorization: Bearer <token>", got the "Basic" scheme');
    const empty = await h.app.inject({ method: 'POST', url: '/api/runs', payload: {}, headers: { authorization: 'Bearer' } });
    expect(empty.statusCode).toBe(401);
    expect(empty.json().error.message).toBe('the Authorization header names the Bearer scheme but carries no token');
  });

  it('checks the token before the body, so an unauthenticated caller learns nothing from validation', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/api/runs',
      payload: '{not json',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.statusCode).toBe(401);
  });

  it('accepts the scheme in any case', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/api/runs/unknown-run/cancel',
      payload: {},
      headers: { authorization: `bearer ${TOKEN}` },
    });
    expect(res.statusCode).toBe(404);
  });

  it('never requires a token to read', async () => {
    for (const url of ['/api/health', '/api/sequences', '/api/runs', '/api/sequences/gated/graph.json']) {
      expect((await h.app.inject({ method: 'GET', url })).statusCode, url).toBe(200);
    }
  });
});

describe('mutating endpoints without LOCKSTEP_TOKEN', () => {
  let h: ServeHarness;
  beforeAll(async () => {
    h = await serveHarness({ token: null });
  });
  afterAll(() => h.close());

  it.each(MUTATING)('POST $url is refused with 503 saying how to set the token', async ({ url, body }) => {
    const res = await h.app.inject({ method: 'POST', url, payload: body, headers: { authorization: 'Bearer anything' } });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({
      error: {
        code: 'AUTH_NOT_CONFIGURED',
        message:
          'mutating requests are disabled because no token is configured: start lockstep serve with LOCKSTEP_TOKEN=<secret> in its environment, then send "Authorization: Bearer <secret>"',
      },
    });
  });

  it('still serves reads and reports auth as off', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/api/health' })).json()).toMatchObject({ auth: false });
  });
});

describe('a server bound to loopback', () => {
  let h: ServeHarness;
  beforeAll(async () => {
    h = await serveHarness({ allowedHosts: ['localhost', '127.0.0.1', '[::1]'] });
  });
  afterAll(() => h.close());

  it('answers its own host names, with or without a port', async () => {
    for (const host of ['localhost', '127.0.0.1:7070', '[::1]:7070', 'LOCALHOST:80']) {
      expect((await h.app.inject({ method: 'GET', url: '/api/health', headers: { host } })).statusCode, host).toBe(200);
    }
  });

  it('refuses any other Host with 421, so a rebound DNS name cannot read runs', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/api/runs', headers: { host: 'attacker.example:7070' } });
    expect(res.statusCode).toBe(421);
    expect(res.json().error).toEqual({
      code: 'INVALID_REQUEST',
      message: 'requests for host "attacker.example" are refused: this server answers only to localhost, 127.0.0.1, [::1]',
    });
  });
});
