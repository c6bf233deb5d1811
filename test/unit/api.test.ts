import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import type { IncidentAction, IncidentDetail, IncidentsService } from '../../api/incidents';
import { createApiMetrics } from '../../api/metrics';
import { buildServer } from '../../api/server';
import { parseTokenSpec } from '../../api/auth';

const TOKENS = {
  intake: 'intake-token-0123456789',
  responder: 'responder-token-0123456789',
  investigator: 'investigator-token-012345',
};

/** Records what the routes ask of Temporal. */
class FakeIncidents implements IncidentsService {
  actions: Array<{ incidentId: string; action: IncidentAction; body: unknown }> = [];
  async list() {
    return {
      incidents: [
        { incidentId: 'inc-00000000-0000-4000-8000-000000000001', workflowId: 'incident/c/ns/p', status: 'escalating' },
      ],
    };
  }
  async get(): Promise<never> {
    throw Object.assign(new Error('not used'), { statusCode: 404 });
  }
  async history() {
    return { events: [{ eventId: '1' }], nextPageToken: 'abc' };
  }
  async act(incidentId: string, action: IncidentAction, body: unknown) {
    this.actions.push({ incidentId, action, body });
  }
}

describe('API basics (inject, no servers)', () => {
  let app: FastifyInstance;
  const incidents = new FakeIncidents();
  before(async () => {
    app = await buildServer({
      logger: pino({ level: 'silent' }),
      readiness: {
        temporal: async () => {},
        s3: async () => {
          throw new Error('connect ECONNREFUSED');
        },
      },
      tokens: new Map(Object.entries(TOKENS).map(([role, token]) => [token, role as 'intake'])),
      incidents,
      metrics: createApiMetrics(),
    });
  });
  after(() => app.close());
  const auth = (role: keyof typeof TOKENS) => ({ authorization: `Bearer ${TOKENS[role]}` });

  test('healthz is 200; readyz names the unreachable dependency with 503', async () => {
    assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
    const ready = await app.inject({ url: '/readyz' });
    assert.equal(ready.statusCode, 503);
    assert.deepEqual(ready.json().checks.s3, { ok: false, error: 'connect ECONNREFUSED' });
    assert.equal(ready.json().checks.temporal.ok, true);
  });

  test('the bearer scheme is case-insensitive (RFC 9110); other schemes and a missing separator are refused', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR'])
      for (const separator of [' ', '   ']) {
        const res = await app.inject({
          url: '/v1/incidents',
          headers: { authorization: `${scheme}${separator}${TOKENS.investigator}` },
        });
        assert.equal(res.statusCode, 200, `${scheme}${JSON.stringify(separator)}`);
      }
    for (const header of [
      `Basic ${TOKENS.investigator}`,
      `Bearer${TOKENS.investigator}`,
      `bearers ${TOKENS.investigator}`,
      TOKENS.investigator,
    ]) {
      const res = await app.inject({ url: '/v1/incidents', headers: { authorization: header } });
      assert.equal(res.statusCode, 401, header);
    }
  });

  test('no token → 401 problem+json; wrong role → 403; nothing reaches Temporal', async () => {
    const url = '/v1/incidents/inc-00000000-0000-4000-8000-000000000001/acknowledge';
    const none = await app.inject({ method: 'POST', url, payload: {} });
    assert.equal(none.statusCode, 401);
    assert.match(none.headers['content-type'] as string, /^application\/problem\+json/);
    assert.equal(none.json().status, 401);
    const wrong = await app.inject({ method: 'POST', url, payload: {}, headers: auth('intake') });
    assert.equal(wrong.statusCode, 403);
    const forged = await app.inject({
      method: 'POST',
      url,
      payload: {},
      headers: { authorization: `Bearer ${TOKENS.responder}x` },
    });
    assert.equal(forged.statusCode, 401);
    assert.equal(incidents.actions.length, 0);
  });

  test('responder actions become signals with who did it; approve needs the step', async () => {
    const id = 'inc-00000000-0000-4000-8000-000000000001';
    const ok = await app.inject({
      method: 'POST',
      url: `/v1/incidents/${id}/approve`,
      payload: { step: 'isolate', note: 'go' },
      headers: auth('responder'),
    });
    assert.equal(ok.statusCode, 202);
    assert.deepEqual(incidents.actions.at(-1), {
      incidentId: id,
      action: 'approve',
      body: { step: 'isolate', note: 'go', by: 'responder', role: 'responder' },
    });
    const missing = await app.inject({
      method: 'POST',
      url: `/v1/incidents/${id}/reject`,
      payload: {},
      headers: auth('responder'),
    });
    assert.equal(missing.statusCode, 400);
    assert.equal(missing.json().errors[0].field, 'body/step');
    const badAction = await app.inject({
      method: 'POST',
      url: `/v1/incidents/${id}/delete`,
      payload: {},
      headers: auth('responder'),
    });
    assert.equal(badAction.statusCode, 400);
    const badId = await app.inject({
      method: 'POST',
      url: '/v1/incidents/..%2F..%2Fetc/acknowledge',
      payload: {},
      headers: auth('responder'),
    });
    assert.equal(badId.statusCode, 400);
  });

  test('bad JSON → 400, body over 1 MiB → 413, unknown route → 404, all problem+json', async () => {
    const id = 'inc-00000000-0000-4000-8000-000000000001';
    const bad = await app.inject({
      method: 'POST',
      url: `/v1/incidents/${id}/acknowledge`,
      payload: '{"note":',
      headers: { ...auth('responder'), 'content-type': 'application/json' },
    });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().detail, /not valid JSON/);
    const big = await app.inject({
      method: 'POST',
      url: `/v1/incidents/${id}/acknowledge`,
      payload: JSON.stringify({ note: 'x'.repeat(1024 * 1024 + 10) }),
      headers: { ...auth('responder'), 'content-type': 'application/json' },
    });
    assert.equal(big.statusCode, 413);
    assert.match(big.headers['content-type'] as string, /problem\+json/);
    const missing = await app.inject({ url: '/v2/nothing' });
    assert.equal(missing.statusCode, 404);
    assert.match(missing.headers['content-type'] as string, /problem\+json/);
  });

  test('list and history are paginated and need a reader role', async () => {
    assert.equal((await app.inject({ url: '/v1/incidents' })).statusCode, 401);
    const list = await app.inject({ url: '/v1/incidents?namespace=shop&pageSize=10', headers: auth('investigator') });
    assert.equal(list.statusCode, 200);
    assert.equal(list.json().incidents[0].status, 'escalating');
    const injected = await app.inject({ url: '/v1/incidents?namespace=a%22%20OR%20true', headers: auth('responder') });
    assert.equal(injected.statusCode, 400, 'filter values are names, never query text');
    const history = await app.inject({
      url: '/v1/incidents/inc-00000000-0000-4000-8000-000000000001/history?pageSize=5',
      headers: auth('responder'),
    });
    assert.equal(history.json().nextPageToken, 'abc');
  });

  test('openapi.json documents every route with its schemas; metrics are Prometheus text', async () => {
    const doc = (await app.inject({ url: '/openapi.json' })).json();
    assert.equal(doc.openapi, '3.1.0');
    assert.ok(doc.paths['/v1/incidents/{incidentId}/{action}'].post.requestBody);
    assert.ok(doc.paths['/v1/incidents'].get.parameters.some((p: { name: string }) => p.name === 'namespace'));
    const metrics = await app.inject({ url: '/metrics' });
    assert.match(metrics.body, /holdfast_alerts_received_total/);
  });
});

/** Answers one incident that continued as new: its current run is not the one its id names. */
class OneIncident implements IncidentsService {
  static readonly ID = 'inc-00000000-0000-4000-8000-000000000002';
  asked: string[] = [];
  async list() {
    return { incidents: [] };
  }
  async history(): Promise<never> {
    throw new Error('not used');
  }
  async act(): Promise<never> {
    throw new Error('not used');
  }
  async get(incidentId: string): Promise<IncidentDetail & { extra?: string }> {
    this.asked.push(incidentId);
    return {
      status: { incidentId } as IncidentDetail['status'],
      alerts: [],
      running: true,
      progress: [{ activity: 'captureFilesystem', details: { bytes: 1024 } }],
      workflowId: 'incident/prod/shop/web-1',
      runId: '11111111-2222-4333-8444-555555555555',
      // Not in the response schema: never sent.
      extra: 'internal',
    };
  }
}

describe('GET /v1/incidents/{id}: workflow, current run and Temporal UI link', () => {
  const build = (incidents: IncidentsService, temporalUi?: { url: string; namespace: string }) =>
    buildServer({
      logger: pino({ level: 'silent' }),
      readiness: {},
      tokens: new Map([[TOKENS.responder, 'responder']]),
      incidents,
      metrics: createApiMetrics(),
      ...(temporalUi ? { temporalUi } : {}),
    });
  const headers = { authorization: `Bearer ${TOKENS.responder}` };

  test('configured: the link names the namespace, the encoded workflow id and the current run', async () => {
    const incidents = new OneIncident();
    const app = await build(incidents, { url: 'https://temporal.example.com/ui', namespace: 'holdfast' });
    try {
      const res = await app.inject({ url: `/v1/incidents/${OneIncident.ID}`, headers });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(incidents.asked, [OneIncident.ID]);
      const body = res.json();
      assert.equal(body.workflowId, 'incident/prod/shop/web-1');
      assert.equal(body.runId, '11111111-2222-4333-8444-555555555555');
      assert.equal(
        body.temporalUiUrl,
        'https://temporal.example.com/ui/namespaces/holdfast/workflows/incident%2Fprod%2Fshop%2Fweb-1/11111111-2222-4333-8444-555555555555/history',
      );
      assert.equal(body.status.incidentId, OneIncident.ID, 'the status passes through whole');
      assert.deepEqual(body.progress, [{ activity: 'captureFilesystem', details: { bytes: 1024 } }]);
      assert.equal(body.running, true);
      assert.equal(body.extra, undefined, 'only what the response schema documents is sent');

      const doc = (await app.inject({ url: '/openapi.json' })).json();
      const schema = doc.paths['/v1/incidents/{incidentId}'].get.responses['200'].content['application/json'].schema;
      for (const field of ['workflowId', 'runId', 'temporalUiUrl']) assert.ok(schema.properties[field], field);
      assert.deepEqual([...schema.required].sort(), ['alerts', 'progress', 'runId', 'running', 'status', 'workflowId']);
    } finally {
      await app.close();
    }
  });

  test('not configured: workflow id and run, no link', async () => {
    const app = await build(new OneIncident());
    try {
      const body = (await app.inject({ url: `/v1/incidents/${OneIncident.ID}`, headers })).json();
      assert.equal(body.workflowId, 'incident/prod/shop/web-1');
      assert.equal(body.runId, '11111111-2222-4333-8444-555555555555');
      assert.equal('temporalUiUrl' in body, false);
    } finally {
      await app.close();
    }
  });
});

describe('people, not roles: actions are recorded as the person whose token was used', () => {
  test('a person token names the person; a role-only token names the role; a name in the body is refused', async () => {
    const incidents = new FakeIncidents();
    const app = await buildServer({
      logger: pino({ level: 'silent' }),
      readiness: {},
      tokens: parseTokenSpec('responder:alice=alice-token-0123456789,responder=shared-responder-012345'),
      incidents,
      metrics: createApiMetrics(),
    });
    const id = 'inc-00000000-0000-4000-8000-000000000001';
    const act = (token: string, action: string, payload: object) =>
      app.inject({
        method: 'POST',
        url: `/v1/incidents/${id}/${action}`,
        payload,
        headers: { authorization: `Bearer ${token}` },
      });
    try {
      assert.equal((await act('alice-token-0123456789', 'approve', { step: 'isolate' })).statusCode, 202);
      assert.equal((await act('alice-token-0123456789', 'acknowledge', {})).statusCode, 202);
      assert.equal((await act('shared-responder-012345', 'resolve', { note: 'done' })).statusCode, 202);
      assert.deepEqual(
        incidents.actions.map((a) => [a.action, a.body]),
        [
          ['approve', { step: 'isolate', by: 'alice', role: 'responder' }],
          ['acknowledge', { by: 'alice', role: 'responder' }],
          ['resolve', { note: 'done', by: 'responder', role: 'responder' }],
        ],
      );
      const claimed = await act('shared-responder-012345', 'approve', { step: 'isolate', by: 'alice' });
      assert.equal(claimed.statusCode, 400, 'nobody records a decision in another name');
      assert.equal(incidents.actions.length, 3);
    } finally {
      await app.close();
    }
  });
});
