/**
 * Intake security through the real HTTP API (buildServer + alertRoutes, fastify inject, no servers):
 * timestamped webhook signatures (window, replay), authentication before the body is read or parsed,
 * the optional /metrics bearer, rate limiting, and HTTPS with a certificate made for the test.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { ALERT_FORMATS } from '../../alerts/registry';
import { ReplayGuard, signedHeaders, webhookSignature } from '../../api/auth';
import type { IncidentsService } from '../../api/incidents';
import { AlertIntake, type IntakeSink } from '../../api/intake';
import { createApiMetrics } from '../../api/metrics';
import { alertRoutes } from '../../api/routes/alerts';
import { buildServer, type ServerDeps } from '../../api/server';
import type { Alert, AlertTarget } from '../../common/types';
import type { AlertBatch } from '../../workflows/definitions';
import { fixturesDir } from '../helpers/env';

const INTAKE = 'intake-token-0123456789abcdef';
const RESPONDER = 'responder-token-0123456789ab';
const SECRET = crypto.randomBytes(32).toString('hex');
const METRICS = 'metrics-token-0123456789abcd';
const ROUTE = '/v1/alerts/falco';

/** Stands in for Temporal: records every delivered alert. */
class RecordingSink implements IntakeSink {
  readonly delivered: Alert[] = [];
  async deliver(_workflowId: string, _target: AlertTarget, batch: AlertBatch): Promise<string> {
    this.delivered.push(...batch.alerts.map((a) => a.alert));
    return crypto.randomUUID();
  }
  async signalOpen(): Promise<boolean> {
    return true;
  }
  async describeRun() {
    return { startedAt: new Date() };
  }
}

const falcoTemplate = JSON.parse(
  fs.readFileSync(path.join(fixturesDir, 'alerts', 'falco-terminal-shell.json'), 'utf8'),
);

/** A distinct, valid Falco event (its own uuid and pod), as the exact bytes a sender signs. */
function falcoBody(): string {
  const event = structuredClone(falcoTemplate);
  event.uuid = crypto.randomUUID();
  event.output_fields['k8s.pod.name'] = `web-${crypto.randomBytes(4).toString('hex')}`;
  return JSON.stringify(event);
}

/** A clock the tests move. */
class Clock {
  ms = Date.UTC(2026, 11, 2, 9, 0, 0);
  now = () => this.ms;
}

async function server(sink: RecordingSink, extra: Partial<ServerDeps> = {}): Promise<FastifyInstance> {
  const metrics = createApiMetrics();
  const intake = new AlertIntake(sink, { repeatWindowMs: 0, maxBatch: 100, maxInFlight: 4, maxKeys: 1000 });
  return buildServer({
    logger: pino({ level: 'silent' }),
    readiness: {},
    tokens: new Map([
      [INTAKE, 'intake'],
      [RESPONDER, 'responder'],
    ]),
    webhookSecret: SECRET,
    incidents: { list: async () => ({ incidents: [] }) } as unknown as IncidentsService,
    metrics,
    routes: [alertRoutes({ intake, metrics, formats: ALERT_FORMATS, defaultCluster: 'c' })],
    ...extra,
  });
}

describe('signed intake: timestamp.body, ±5 minutes, no replay', () => {
  let app: FastifyInstance;
  const sink = new RecordingSink();
  const clock = new Clock();
  before(async () => {
    app = await server(sink, { now: clock.now });
  });
  after(() => app.close());
  beforeEach(() => {
    sink.delivered.length = 0;
  });

  const post = (body: string, headers: Record<string, string>) =>
    app.inject({
      method: 'POST',
      url: ROUTE,
      payload: body,
      headers: { 'content-type': 'application/json', ...headers },
    });

  test('a request signed now is accepted; the same request again is 401 and delivers nothing more', async () => {
    const body = falcoBody();
    const headers = signedHeaders(SECRET, body, clock.ms);
    const first = await post(body, headers);
    assert.equal(first.statusCode, 202, first.body);
    assert.equal(sink.delivered.length, 1);
    clock.ms += 30_000;
    const replay = await post(body, headers);
    assert.equal(replay.statusCode, 401);
    assert.match(replay.json().detail, /replay/);
    assert.match(replay.headers['content-type'] as string, /problem\+json/);
    assert.equal(sink.delivered.length, 1, 'the replay reached nothing');
  });

  test('signed 6 minutes ago → 401; 6 minutes ahead → 401; 4 minutes either way → accepted', async () => {
    for (const offsetMs of [-6 * 60_000, 6 * 60_000, -(5 * 60_000 + 1000)]) {
      const body = falcoBody();
      const res = await post(body, signedHeaders(SECRET, body, clock.ms + offsetMs));
      assert.equal(res.statusCode, 401, `offset ${offsetMs} ms`);
      assert.match(res.json().detail, /timestamp is more than 300 s from now/);
    }
    for (const offsetMs of [-4 * 60_000, 4 * 60_000]) {
      const body = falcoBody();
      const res = await post(body, signedHeaders(SECRET, body, clock.ms + offsetMs));
      assert.equal(res.statusCode, 202, `offset ${offsetMs} ms: ${res.body}`);
    }
    assert.equal(sink.delivered.length, 2);
  });

  test('a captured request is useless after the window too: replayed later it is 401 (stale, not only seen)', async () => {
    const body = falcoBody();
    const headers = signedHeaders(SECRET, body, clock.ms);
    assert.equal((await post(body, headers)).statusCode, 202);
    clock.ms += 10 * 60_000;
    const late = await post(body, headers);
    assert.equal(late.statusCode, 401);
    assert.match(late.json().detail, /timestamp/);
  });

  test('the timestamp is inside the MAC: a fresh timestamp on an old signature, a changed body or a wrong key → 401', async () => {
    const body = falcoBody();
    const old = signedHeaders(SECRET, body, clock.ms - 60_000);
    const retimed = { ...old, 'x-holdfast-timestamp': String(Math.floor(clock.ms / 1000)) };
    assert.equal((await post(body, retimed)).statusCode, 401);
    const other = falcoBody();
    assert.equal((await post(other, signedHeaders(SECRET, body, clock.ms))).statusCode, 401);
    assert.equal((await post(body, signedHeaders('x'.repeat(64), body, clock.ms))).statusCode, 401);
    assert.equal(sink.delivered.length, 0);
  });

  test('malformed signature headers and the old body-only scheme are 401 with a reason', async () => {
    const body = falcoBody();
    const ts = String(Math.floor(clock.ms / 1000));
    const legacy = `sha256=${crypto.createHmac('sha256', SECRET).update(body).digest('hex')}`;
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ 'x-holdfast-signature': legacy }, /no longer accepted/],
      [{ 'x-holdfast-signature': legacy, 'x-holdfast-timestamp': ts }, /no longer accepted/],
      [{ 'x-holdfast-signature': webhookSignature(SECRET, ts, Buffer.from(body)) }, /X-Holdfast-Timestamp/i],
      [{ 'x-holdfast-signature': 'v1=zz', 'x-holdfast-timestamp': ts }, /v1=<64 hex>/],
      [
        { 'x-holdfast-signature': webhookSignature(SECRET, ts, Buffer.from(body)), 'x-holdfast-timestamp': `${ts}.5` },
        /unix seconds/,
      ],
    ];
    for (const [headers, reason] of cases) {
      const res = await post(body, headers);
      assert.equal(res.statusCode, 401, JSON.stringify(headers));
      assert.match(res.json().detail, reason);
    }
    assert.equal(sink.delivered.length, 0);
  });

  test('a signed request that is not JSON never passes: 401 before validation (the JSON parser is where the MAC is checked)', async () => {
    const body = 'plain text';
    const res = await app.inject({
      method: 'POST',
      url: ROUTE,
      payload: body,
      headers: { 'content-type': 'text/plain', ...signedHeaders(SECRET, body, clock.ms) },
    });
    assert.equal(res.statusCode, 401);
  });
});

describe('authentication before the body is read', () => {
  let app: FastifyInstance;
  const sink = new RecordingSink();
  const clock = new Clock();
  before(async () => {
    app = await server(sink, { now: clock.now });
  });
  after(() => app.close());

  test('anonymous: an invalid body is 401 (not 400), a body that is not JSON 401, one over 1 MiB 401 (not 413)', async () => {
    const bodies = [
      { payload: '{"uuid": 42}', type: 'application/json' },
      { payload: '{"not json', type: 'application/json' },
      { payload: JSON.stringify({ pad: 'x'.repeat(1024 * 1024 + 10) }), type: 'application/json' },
      { payload: '<xml/>', type: 'application/xml' },
    ];
    for (const { payload, type } of bodies)
      for (const headers of [{}, { authorization: 'Bearer not-a-token-0123456789' }]) {
        const res = await app.inject({
          method: 'POST',
          url: ROUTE,
          payload,
          headers: { 'content-type': type, ...headers },
        });
        assert.equal(res.statusCode, 401, `${type} ${payload.slice(0, 20)} ${JSON.stringify(headers)}`);
        assert.match(res.headers['content-type'] as string, /problem\+json/);
      }
    assert.equal(sink.delivered.length, 0);
  });

  test('a wrong role is 403 before the body: an invalid body with a responder token is 403, not 400', async () => {
    const res = await app.inject({
      method: 'POST',
      url: ROUTE,
      payload: '{"not json',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${RESPONDER}` },
    });
    assert.equal(res.statusCode, 403);
  });

  test('a bad MAC over an invalid body is 401 (MAC before parsing); a good MAC over it is 400 (parsed after)', async () => {
    const body = '{"not json';
    const good = signedHeaders(SECRET, body, clock.ms);
    const bad = { ...good, 'x-holdfast-signature': `v1=${'0'.repeat(64)}` };
    const post = (headers: Record<string, string>) =>
      app.inject({
        method: 'POST',
        url: ROUTE,
        payload: body,
        headers: { 'content-type': 'application/json', ...headers },
      });
    assert.equal((await post(bad)).statusCode, 401);
    const parsed = await post(good);
    assert.equal(parsed.statusCode, 400);
    assert.match(parsed.json().detail, /not valid JSON/);
    const schema = '{"uuid": 42}';
    const invalid = await app.inject({
      method: 'POST',
      url: ROUTE,
      payload: schema,
      headers: { 'content-type': 'application/json', ...signedHeaders(SECRET, schema, clock.ms) },
    });
    assert.equal(invalid.statusCode, 400, 'authenticated, then validated');
  });

  test('every route that needs a role refuses anonymous requests in onRequest, bodies or not', async () => {
    const id = 'inc-00000000-0000-4000-8000-000000000001';
    for (const [method, url] of [
      ['GET', '/v1/incidents'],
      ['HEAD', '/v1/incidents'],
      ['POST', `/v1/incidents/${id}/approve`],
      ['POST', '/v1/alerts/alertmanager'],
      ['POST', '/v1/alerts'],
    ] as const) {
      const res = await app.inject({ method, url, payload: '{"x', headers: { 'content-type': 'application/json' } });
      assert.equal(res.statusCode, 401, `${method} ${url}`);
    }
    // A webhook signature is for intake only: it does not open the responder routes.
    const body = '{"step":"isolate"}';
    const signed = await app.inject({
      method: 'POST',
      url: `/v1/incidents/${id}/approve`,
      payload: body,
      headers: { 'content-type': 'application/json', ...signedHeaders(SECRET, body, clock.ms) },
    });
    assert.equal(signed.statusCode, 401);
  });

  test('OpenAPI: intake routes take a bearer token or the timestamp + signature pair; other routes a bearer only', async () => {
    const doc = (await app.inject({ url: '/openapi.json' })).json();
    assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), [
      'bearer',
      'webhookSignature',
      'webhookTimestamp',
    ]);
    assert.equal(doc.components.securitySchemes.webhookTimestamp.name, 'X-Holdfast-Timestamp');
    assert.deepEqual(doc.paths[ROUTE].post.security, [{ bearer: [] }, { webhookTimestamp: [], webhookSignature: [] }]);
    assert.deepEqual(doc.paths['/v1/incidents'].get.security, [{ bearer: [] }]);
  });

  test('a webhook secret shorter than 32 bytes is refused when the server is built', async () => {
    await assert.rejects(server(new RecordingSink(), { webhookSecret: 'x'.repeat(31) }), /at least 32 bytes/);
  });
});

describe('replay guard', () => {
  test('remembers a signature for its window only, and fails closed when full', () => {
    const guard = new ReplayGuard(300, 3);
    const t = 1_800_000_000;
    assert.equal(guard.claim('a', t, t), 'fresh');
    assert.equal(guard.claim('a', t, t + 299), 'replayed');
    assert.equal(guard.claim('b', t, t), 'fresh');
    assert.equal(guard.claim('c', t + 1, t + 1), 'fresh');
    assert.equal(guard.claim('d', t + 2, t + 2), 'full', 'never forgets a live signature to make room');
    // Past the window the timestamp check refuses them anyway, so their bucket goes.
    assert.equal(guard.claim('d', t + 400, t + 400 + 60), 'fresh');
    assert.equal(guard.entries, 1);
  });
});

describe('replay guard over HTTP', () => {
  test('when the guard is full a signed request is 503 with Retry-After, and nothing is delivered', async () => {
    const sink = new RecordingSink();
    const clock = new Clock();
    const app = await server(sink, { now: clock.now, replayGuard: new ReplayGuard(300, 1) });
    try {
      const post = (body: string) =>
        app.inject({
          method: 'POST',
          url: ROUTE,
          payload: body,
          headers: { 'content-type': 'application/json', ...signedHeaders(SECRET, body, clock.ms) },
        });
      assert.equal((await post(falcoBody())).statusCode, 202);
      const full = await post(falcoBody());
      assert.equal(full.statusCode, 503);
      assert.equal(full.headers['retry-after'], '10');
      assert.match(full.headers['content-type'] as string, /problem\+json/);
      assert.equal(sink.delivered.length, 1);
      // Bearer intake does not use the guard.
      const bearer = await app.inject({
        method: 'POST',
        url: ROUTE,
        payload: falcoBody(),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${INTAKE}` },
      });
      assert.equal(bearer.statusCode, 202);
    } finally {
      await app.close();
    }
  });
});

describe('/metrics bearer and rate limiting', () => {
  test('/metrics: open without a configured token; with one, 401 without or with another token, 200 with it', async () => {
    const open = await server(new RecordingSink());
    try {
      assert.equal((await open.inject({ url: '/metrics' })).statusCode, 200);
    } finally {
      await open.close();
    }
    const app = await server(new RecordingSink(), { metricsToken: METRICS });
    try {
      assert.equal((await app.inject({ url: '/metrics' })).statusCode, 401);
      const other = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${RESPONDER}` } });
      assert.equal(other.statusCode, 401, 'role tokens do not scrape');
      const ok = await app.inject({ url: '/metrics', headers: { authorization: `bearer ${METRICS}` } });
      assert.equal(ok.statusCode, 200);
      assert.match(ok.body, /holdfast_alerts_received_total/);
    } finally {
      await app.close();
    }
  });

  test('beyond the limit: 429 problem with Retry-After, per client; probes are never limited', async () => {
    const app = await server(new RecordingSink(), { rateLimitPerMinute: 3 });
    try {
      const list = (headers: Record<string, string>) => app.inject({ url: '/v1/incidents', headers });
      for (let i = 0; i < 3; i++) assert.equal((await list({ authorization: `Bearer ${RESPONDER}` })).statusCode, 200);
      const limited = await list({ authorization: `Bearer ${RESPONDER}` });
      assert.equal(limited.statusCode, 429);
      assert.match(limited.headers['content-type'] as string, /problem\+json/);
      assert.ok(Number(limited.headers['retry-after']) > 0, `Retry-After: ${limited.headers['retry-after']}`);
      // Another token is another client; an anonymous caller counts by address and gets its own 3 (401s).
      assert.equal((await list({ authorization: `Bearer ${INTAKE}` })).statusCode, 403);
      for (let i = 0; i < 3; i++) assert.equal((await list({})).statusCode, 401);
      // Random tokens buy no fresh bucket: they count with the address.
      assert.equal((await list({ authorization: `Bearer random-${crypto.randomUUID()}` })).statusCode, 429);
      for (let i = 0; i < 10; i++) {
        assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
        assert.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
      }
    } finally {
      await app.close();
    }
  });
});

describe('TLS', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-tls-'));
    // Test-only: node's crypto cannot issue certificates, openssl can.
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('with a certificate and key the API speaks HTTPS only', async () => {
    const cert = fs.readFileSync(path.join(dir, 'cert.pem'));
    const app = await server(new RecordingSink(), { tls: { cert, key: fs.readFileSync(path.join(dir, 'key.pem')) } });
    try {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const port = (app.server.address() as { port: number }).port;
      const body = await new Promise<string>((resolve, reject) => {
        https
          .get({ host: '127.0.0.1', port, path: '/healthz', ca: cert }, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve(`${res.statusCode} ${text}`));
          })
          .on('error', reject);
      });
      assert.equal(body, '200 {"status":"ok"}');
      const plain = await new Promise<string>((resolve) => {
        http
          .get({ host: '127.0.0.1', port, path: '/healthz' }, (res) => {
            res.resume();
            resolve(`status ${res.statusCode}`);
          })
          .on('error', (err) => resolve(`error ${(err as NodeJS.ErrnoException).code ?? err.message}`));
      });
      assert.doesNotMatch(plain, /status 200/, `plain HTTP: ${plain}`);
    } finally {
      await app.close();
    }
  });
});
