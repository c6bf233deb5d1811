import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import type { IncidentsService } from '../../api/incidents';
import { createApiMetrics } from '../../api/metrics';
import { CONSOLE_CSP, consoleRoutes } from '../../api/routes/console';
import { buildServer } from '../../api/server';
import { repoRoot } from '../helpers/env';

const TOKENS = {
  intake: 'intake-token-0123456789',
  responder: 'responder-token-0123456789',
  custodian: 'custodian-token-0123456789',
};

const unused = async (): Promise<never> => {
  throw new Error('not used');
};
const noIncidents: IncidentsService = { list: unused, get: unused, history: unused, act: unused };

function build(dir: string): Promise<FastifyInstance> {
  return buildServer({
    logger: pino({ level: 'silent' }),
    readiness: {},
    tokens: new Map<string, { role: 'intake' | 'responder' | 'custodian'; name?: string }>([
      [TOKENS.intake, { role: 'intake' }],
      [TOKENS.responder, { role: 'responder', name: 'alice' }],
      [TOKENS.custodian, { role: 'custodian', name: 'carol' }],
    ]),
    incidents: noIncidents,
    metrics: createApiMetrics(),
    routes: [consoleRoutes({ dir })],
  });
}

describe('the console route', () => {
  let dir: string;
  let app: FastifyInstance;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-console-'));
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>t</title>');
    fs.writeFileSync(path.join(dir, 'app.js'), 'void 0;');
    fs.writeFileSync(path.join(dir, 'app.css'), 'body{}');
    fs.writeFileSync(path.join(dir, 'secret.txt'), 'not served');
    app = await build(dir);
  });
  after(async () => {
    await app.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('serves its three files with a strict CSP and no-sniff; /console redirects to /console/', async () => {
    const redirect = await app.inject({ url: '/console' });
    assert.equal(redirect.statusCode, 301);
    assert.equal(redirect.headers.location, '/console/');
    for (const [url, type] of [
      ['/console/', 'text/html'],
      ['/console/app.js', 'text/javascript'],
      ['/console/app.css', 'text/css'],
    ] as const) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 200, url);
      assert.match(String(res.headers['content-type']), new RegExp(`^${type}`), url);
      assert.equal(res.headers['content-security-policy'], CONSOLE_CSP, url);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['x-frame-options'], 'DENY');
      assert.equal(res.headers['referrer-policy'], 'no-referrer');
      assert.equal(res.headers['set-cookie'], undefined, 'no cookie, ever');
    }
    const csp = CONSOLE_CSP.split('; ');
    for (const directive of [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self'",
      "frame-ancestors 'none'",
      "object-src 'none'",
      "base-uri 'none'",
      "require-trusted-types-for 'script'",
    ])
      assert.ok(csp.includes(directive), directive);
    assert.ok(!CONSOLE_CSP.includes('unsafe-'), 'no unsafe-inline or unsafe-eval');
  });

  test('no other path reaches the disk: traversal and other names are 404', async () => {
    for (const url of [
      '/console/secret.txt',
      '/console/../package.json',
      '/console/%2e%2e/package.json',
      '/console/..%2fpackage.json',
      '/console/app.js/',
      '/console/index.html',
    ]) {
      const res = await app.inject({ url });
      assert.ok(res.statusCode === 404 || res.statusCode === 400, `${url}: ${res.statusCode}`);
      assert.ok(!res.body.includes('not served') && !res.body.includes('"name": "holdfast"'), url);
    }
  });

  test('GET /v1/me names the holder and role of any valid token, and needs one', async () => {
    const me = await app.inject({ url: '/v1/me', headers: { authorization: `Bearer ${TOKENS.responder}` } });
    assert.equal(me.statusCode, 200);
    assert.deepEqual(me.json(), { name: 'alice', role: 'responder' });
    const intake = await app.inject({ url: '/v1/me', headers: { authorization: `Bearer ${TOKENS.intake}` } });
    assert.deepEqual(intake.json(), { name: 'intake', role: 'intake' });
    const custodian = await app.inject({ url: '/v1/me', headers: { authorization: `Bearer ${TOKENS.custodian}` } });
    assert.deepEqual(custodian.json(), { name: 'carol', role: 'custodian' });
    assert.equal((await app.inject({ url: '/v1/me' })).statusCode, 401);
    assert.equal(
      (await app.inject({ url: '/v1/me', headers: { authorization: 'Bearer wrong-token-0123456789' } })).statusCode,
      401,
    );
  });

  test('OpenAPI lists /v1/me, not the console files', async () => {
    const paths = Object.keys((await app.inject({ url: '/openapi.json' })).json().paths);
    assert.ok(paths.includes('/v1/me'));
    assert.ok(!paths.some((p) => p.startsWith('/console')), paths.join(' '));
  });

  test('not built: /console says how to build it, and the API still serves', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-console-empty-'));
    const bare = await build(empty);
    try {
      const res = await bare.inject({ url: '/console/' });
      assert.equal(res.statusCode, 503);
      assert.match(res.json().detail, /npm run build/);
      assert.equal((await bare.inject({ url: '/healthz' })).statusCode, 200);
    } finally {
      await bare.close();
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});

test('the console source never writes HTML from a string (alert text must stay text)', () => {
  const src = path.join(repoRoot, 'console', 'src');
  const files = fs.readdirSync(src).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 3, files.join(' '));
  for (const file of files) {
    const text = fs.readFileSync(path.join(src, file), 'utf8');
    for (const sink of [
      'innerHTML',
      'outerHTML',
      'insertAdjacentHTML',
      'dangerouslySetInnerHTML',
      'document.write',
      'eval(',
      'new Function',
    ])
      assert.ok(!text.includes(sink), `${file} uses ${sink}`);
  }
  const html = fs.readFileSync(path.join(repoRoot, 'console', 'index.html'), 'utf8');
  assert.ok(!/<script(?![^>]*\bsrc=)/.test(html), 'no inline script in index.html');
  assert.ok(!/<style|\sstyle=/.test(html), 'no inline style in index.html');
});
