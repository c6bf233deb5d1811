/**
 * The API process (dist/api/main.js) configured as an operator would: HTTPS from HOLDFAST_TLS_CERT/KEY, a
 * webhook secret, a /metrics token and a rate limit, against the real Temporal. Signed intake over TLS is
 * accepted once; the replay, a request signed 6 minutes ago and an anonymous invalid body are 401; a short
 * secret stops the start.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { signedHeaders } from '../../api/auth';
import { freePort } from '../../scripts/stack';
import { missingServers, repoRoot } from '../helpers/env';

const INTAKE = 'intake-token-for-the-auth-test-0123456789';
const METRICS = 'metrics-token-for-the-auth-test-0123456';
const SECRET = crypto.randomBytes(32).toString('hex');
const MAIN = path.join(repoRoot, 'dist', 'api', 'main.js');

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

describe('the API process: TLS, signed intake, /metrics token', { skip: missingServers() }, () => {
  let dir: string;
  let port: number;
  let ca: Buffer;
  let api: ChildProcess | undefined;

  const request = (method: string, pathname: string, headers: Record<string, string> = {}, body?: string) =>
    new Promise<Answer>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, path: pathname, method, headers, ca }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });

  const env = (extra: Record<string, string>) => ({
    ...process.env,
    HOLDFAST_TASK_QUEUE: `auth-${crypto.randomUUID()}`,
    HOLDFAST_CLUSTER_NAME: 'test',
    HOLDFAST_API_PORT: String(port),
    HOLDFAST_TOKENS: `intake=${INTAKE}`,
    HOLDFAST_DATA_DIR: path.join(dir, 'data'),
    HOLDFAST_LOG_LEVEL: 'warn',
    ...extra,
  });

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-auth-it-'));
    execFileSync(
      'openssl',
      // prettier-ignore
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1',
        '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    ca = fs.readFileSync(path.join(dir, 'cert.pem'));
    port = await freePort();
    api = spawn(process.execPath, [MAIN], {
      env: env({
        HOLDFAST_TLS_CERT: path.join(dir, 'cert.pem'),
        HOLDFAST_TLS_KEY: path.join(dir, 'key.pem'),
        HOLDFAST_WEBHOOK_SECRET: SECRET,
        HOLDFAST_METRICS_TOKEN: METRICS,
        HOLDFAST_RATE_LIMIT_PER_MINUTE: '1000',
      }),
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    for (let i = 0; i < 100; i++) {
      const up = await request('GET', '/healthz').then(
        (r) => r.status === 200,
        () => false,
      );
      if (up) return;
      await sleep(100);
    }
    throw new Error('the API did not start with TLS');
  });
  after(() => {
    api?.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('signed intake over HTTPS is accepted once; its replay, one signed 6 minutes ago and an anonymous invalid body are 401', async () => {
    const alert = (id: string) =>
      JSON.stringify({
        id,
        source: 'auth-test',
        title: 'Shell in container',
        severity: 'high',
        target: { cluster: 'test', namespace: 'shop', pod: `signed-${id}` },
      });
    const json = { 'content-type': 'application/json' };
    const body = alert(crypto.randomUUID().slice(0, 8));
    const headers = { ...json, ...signedHeaders(SECRET, body) };
    const first = await request('POST', '/v1/alerts', headers, body);
    assert.equal(first.status, 202, first.body);
    const replay = await request('POST', '/v1/alerts', headers, body);
    assert.equal(replay.status, 401, replay.body);
    assert.match(JSON.parse(replay.body).detail, /replay/);

    const old = alert(crypto.randomUUID().slice(0, 8));
    const stale = await request(
      'POST',
      '/v1/alerts',
      { ...json, ...signedHeaders(SECRET, old, Date.now() - 6 * 60_000) },
      old,
    );
    assert.equal(stale.status, 401, stale.body);

    const anonymous = await request('POST', '/v1/alerts', json, '{"id": 42, "severity": "apocalyptic"');
    assert.equal(anonymous.status, 401, anonymous.body);
    const forged = await request('POST', '/v1/alerts', { ...json, authorization: `Bearer ${INTAKE}x` }, '{"id": 42');
    assert.equal(forged.status, 401, forged.body);
  });

  test('/metrics needs its token; the rate limit answers with its headers', async () => {
    assert.equal((await request('GET', '/metrics')).status, 401);
    assert.equal((await request('GET', '/metrics', { authorization: `Bearer ${INTAKE}` })).status, 401);
    const scraped = await request('GET', '/metrics', { authorization: `Bearer ${METRICS}` });
    assert.equal(scraped.status, 200);
    assert.match(scraped.body, /holdfast_alerts_received_total\{source="generic",outcome="accepted"\} 1/);
    assert.equal(scraped.headers['x-ratelimit-limit'], '1000');
  });

  test('a webhook secret shorter than 32 bytes stops the start with the reason', () => {
    const run = spawnSync(process.execPath, [MAIN], {
      env: env({ HOLDFAST_WEBHOOK_SECRET: 'too-short-secret', HOLDFAST_API_PORT: '0' }),
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /HOLDFAST_WEBHOOK_SECRET must be at least 32 bytes/);
    assert.doesNotMatch(run.stderr, /too-short-secret/);
  });
});
