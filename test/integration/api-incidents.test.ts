import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { signedHeaders } from '../../api/auth';
import { ALERT_FORMATS } from '../../alerts/registry';
import { temporalIncidents } from '../../api/incidents';
import { runIdFromIncidentId } from '../../workflows/definitions';
import { AlertIntake } from '../../api/intake';
import { createApiMetrics } from '../../api/metrics';
import { alertRoutes } from '../../api/routes/alerts';
import { buildServer } from '../../api/server';
import { temporalSink } from '../../api/temporal-sink';
import { missingServers } from '../helpers/env';
import { startHarness, type Harness } from '../helpers/incident-harness';

const PLAYBOOKS = `
notifiers: [{ name: oncall, type: webhook }]
playbooks:
  - name: api-test
    capture: [logs]
    contain: [isolate]
    escalation: { tiers: [{ notifiers: [oncall], ackTimeout: 60s }] }
`;
const TOKENS = {
  intake: 'intake-token-0123456789',
  responder: 'responder-token-0123456789',
  investigator: 'investigator-token-012345',
};
const SECRET = 'webhook-secret-for-tests-0123456789abcdef';

function falcoEvent(pod: string, rule = 'Terminal shell in container', namespace = 'shop') {
  return {
    uuid: crypto.randomUUID(),
    output: `12:00:00.000000000: Notice A shell was spawned in a container with an attached terminal (user=root ${pod} shell=bash parent=runc cmdline=bash -i)`,
    priority: 'Notice',
    rule,
    time: new Date().toISOString(),
    source: 'syscall',
    tags: ['container', 'shell', 'mitre_execution'],
    hostname: 'worker-1',
    output_fields: {
      'container.id': 'a1b2c3d4e5f6',
      'container.name': 'web',
      'k8s.ns.name': namespace,
      'k8s.pod.name': pod,
      'proc.cmdline': 'bash -i',
      'user.name': 'root',
    },
  };
}

describe('alerts through the API into incidents on the real Temporal dev server', { skip: missingServers() }, () => {
  let h: Harness;
  let app: FastifyInstance;
  let intake: AlertIntake;
  const auth = (role: keyof typeof TOKENS) => ({ authorization: `Bearer ${TOKENS[role]}` });

  before(async () => {
    h = await startHarness(PLAYBOOKS);
    const metrics = createApiMetrics();
    intake = new AlertIntake(temporalSink(h.client, new Map([['test', h.taskQueue]])), {
      repeatWindowMs: 1000,
      maxBatch: 20,
      maxInFlight: 16,
      maxKeys: 1000,
    });
    app = await buildServer({
      logger: pino({ level: 'silent' }),
      readiness: {},
      tokens: new Map(Object.entries(TOKENS).map(([role, token]) => [token, role as 'intake'])),
      webhookSecret: SECRET,
      incidents: temporalIncidents(h.client, h.client.options.namespace),
      temporalUi: { url: 'http://temporal-ui.test:8233', namespace: h.client.options.namespace },
      metrics,
      routes: [alertRoutes({ intake, metrics, formats: ALERT_FORMATS, defaultCluster: 'test' })],
    });
  });
  after(async () => {
    await app.close();
    await h.close();
  });

  const postFalco = (body: unknown, headers: Record<string, string> = auth('intake')) =>
    app.inject({ method: 'POST', url: '/v1/alerts/falco', payload: body as object, headers });

  async function waitForIncident(
    incidentId: string,
    predicate: (body: {
      status: { phase: string; steps: Array<{ name: string; state: string }> };
      alerts: unknown[];
    }) => boolean,
  ) {
    for (let i = 0; i < 150; i++) {
      const res = await app.inject({ url: `/v1/incidents/${incidentId}`, headers: auth('responder') });
      if (res.statusCode === 200 && predicate(res.json())) return res.json();
      await sleep(200);
    }
    throw new Error(`incident ${incidentId} never reached the expected state`);
  }

  test('a Falco alert opens an incident; a second alert about the pod joins it; responders acknowledge and resolve; the next alert opens a new incident', async () => {
    const pod = `web-${crypto.randomBytes(3).toString('hex')}`;
    const first = await postFalco(falcoEvent(pod));
    assert.equal(first.statusCode, 202, first.body);
    const opened = first.json();
    assert.match(opened.incidentId, /^inc-[0-9a-f-]{36}$/);
    assert.equal(opened.workflowId, `incident/test/shop/${pod}`);
    assert.equal(opened.deduplicated, false);

    const second = await postFalco(falcoEvent(pod, 'Write below etc'));
    assert.equal(second.statusCode, 202);
    assert.equal(second.json().incidentId, opened.incidentId);
    assert.equal(second.json().deduplicated, true);

    const escalated = await waitForIncident(
      opened.incidentId,
      (b) => b.status.phase === 'escalating' && b.alerts.length === 2,
    );
    assert.deepEqual(
      escalated.status.steps.map((s: { name: string }) => s.name),
      ['plan', 'preserve', 'logs', 'isolate', 'seal', 'escalate'],
    );

    // Where it is in Temporal: its workflow, its current run (the first: it has not continued as new), the UI link.
    assert.equal(escalated.workflowId, opened.workflowId);
    assert.equal(escalated.runId, runIdFromIncidentId(opened.incidentId));
    assert.equal(
      escalated.temporalUiUrl,
      `http://temporal-ui.test:8233/namespaces/${h.client.options.namespace}/workflows/${encodeURIComponent(opened.workflowId)}/${escalated.runId}/history`,
    );
    // The one line the Temporal UI lists it by: from the first alert's validated fields, never its output text.
    const described = await h.client.workflow.getHandle(opened.workflowId, escalated.runId).describe();
    const summary = await described.staticSummary();
    assert.match(
      summary ?? '',
      new RegExp(`^(critical|high|medium|low|info) · test/shop/${pod} · \`Terminal shell in container\`$`),
    );
    assert.ok(!summary!.includes('shell=bash'), 'the alert text stays out');

    // Visibility: listed with its search attributes, filterable by pod.
    let listed: Array<{ incidentId: string; status: string; pod: string; source: string }> = [];
    for (let i = 0; i < 50 && listed.length === 0; i++) {
      listed = (await app.inject({ url: `/v1/incidents?pod=${pod}`, headers: auth('investigator') })).json().incidents;
      if (listed.length === 0) await sleep(200);
    }
    assert.equal(listed[0]!.incidentId, opened.incidentId);
    assert.equal(listed[0]!.pod, pod);
    assert.equal(listed[0]!.source, 'falco');

    // The auth scheme is case-insensitive, as real senders and clients write it.
    const history = await app.inject({
      url: `/v1/incidents/${opened.incidentId}/history?pageSize=5`,
      headers: { authorization: `bearer ${TOKENS.responder}` },
    });
    assert.equal(history.statusCode, 200);
    assert.equal(history.json().events[0].eventType, 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED');
    assert.ok(history.json().nextPageToken, 'history is paginated');

    assert.equal(
      (
        await app.inject({
          method: 'POST',
          url: `/v1/incidents/${opened.incidentId}/acknowledge`,
          payload: { note: 'on it' },
          headers: auth('responder'),
        })
      ).statusCode,
      202,
    );
    await waitForIncident(opened.incidentId, (b) => b.status.phase === 'acknowledged');
    assert.equal(
      (
        await app.inject({
          method: 'POST',
          url: `/v1/incidents/${opened.incidentId}/resolve`,
          payload: {},
          headers: auth('responder'),
        })
      ).statusCode,
      202,
    );
    const resolved = await waitForIncident(opened.incidentId, (b) => b.status.phase === 'resolved');
    assert.equal((resolved.status as unknown as { resolvedBy: string }).resolvedBy, 'responder');
    const late = await app.inject({
      method: 'POST',
      url: `/v1/incidents/${opened.incidentId}/acknowledge`,
      payload: {},
      headers: auth('responder'),
    });
    assert.equal(late.statusCode, 409, 'a closed incident takes no more actions');

    const reopened = await postFalco(falcoEvent(pod));
    assert.equal(reopened.statusCode, 202);
    assert.notEqual(reopened.json().incidentId, opened.incidentId, 'after it closes, a new alert opens a new incident');
    assert.equal(reopened.json().deduplicated, false);
    await app.inject({
      method: 'POST',
      url: `/v1/incidents/${reopened.json().incidentId}/cancel`,
      payload: {},
      headers: auth('responder'),
    });
  });

  test('the request body is sealed byte for byte: a Falco event keeps every digit of its nanosecond evt.time', async () => {
    const event = falcoEvent('evt-time-pod');
    // As Falcosidekick sends it: evt.time as a JSON integer no double holds exactly.
    const raw = JSON.stringify(event).replace('"output_fields":{', '"output_fields":{"evt.time":1795961527481632214,');
    const res = await app.inject({
      method: 'POST',
      url: '/v1/alerts/falco',
      payload: raw,
      headers: { ...auth('intake'), 'content-type': 'application/json' },
    });
    assert.equal(res.statusCode, 202, res.body);
    const { incidentId } = res.json() as { incidentId: string };
    await waitForIncident(incidentId, (b) => b.status.steps.some((s) => s.name === 'seal' && s.state === 'succeeded'));
    const sealed = h.seals.find((s) => s.incidentId === incidentId)!;
    assert.equal(sealed.rawBodies?.length, 1);
    const body = Buffer.from(sealed.rawBodies![0]!.base64, 'base64');
    assert.equal(body.toString('utf8'), raw, 'byte for byte');
    assert.match(body.toString('utf8'), /"evt\.time":1795961527481632214,/);
    assert.equal(sealed.rawBodies![0]!.sha256, sealed.alerts[0]!.rawSha256);
  });

  test('a timestamped webhook signature authorizes intake; a wrong signature or no credential is 401 and starts nothing', async () => {
    const pod = `hmac-${crypto.randomBytes(3).toString('hex')}`;
    const body = JSON.stringify(falcoEvent(pod));
    const signed = await app.inject({
      method: 'POST',
      url: '/v1/alerts/falco',
      payload: body,
      headers: { 'content-type': 'application/json', ...signedHeaders(SECRET, body) },
    });
    assert.equal(signed.statusCode, 202, signed.body);
    const forged = await app.inject({
      method: 'POST',
      url: '/v1/alerts/falco',
      payload: body.replace(pod, `${pod}x`),
      headers: { 'content-type': 'application/json', ...signedHeaders(SECRET, body) },
    });
    assert.equal(forged.statusCode, 401);
    const anonymous = await postFalco(falcoEvent(`${pod}y`), {});
    assert.equal(anonymous.statusCode, 401);
    const list = (await app.inject({ url: `/v1/incidents?pod=${pod}x`, headers: auth('responder') })).json();
    assert.deepEqual(list.incidents, []);
    await app.inject({
      method: 'POST',
      url: `/v1/incidents/${signed.json().incidentId}/cancel`,
      payload: {},
      headers: auth('responder'),
    });
  });

  test('attacker-shaped names are refused with 422 naming the field, before anything reaches Temporal', async () => {
    for (const pod of ['../../etc/passwd', '$(rm -rf /)', 'web\nInjected: yes', 'A'.repeat(300)]) {
      const res = await postFalco(falcoEvent(pod));
      assert.equal(res.statusCode, 422, `${JSON.stringify(pod)} → ${res.statusCode}`);
      assert.match(res.headers['content-type'] as string, /problem\+json/);
      assert.match(JSON.stringify(res.json()), /k8s\.pod\.name/);
    }
  });

  test('Alertmanager: one incident per distinct pod; a resolved alert never opens one', async () => {
    const podA = `am-a-${crypto.randomBytes(3).toString('hex')}`;
    const podB = `am-b-${crypto.randomBytes(3).toString('hex')}`;
    const podC = `am-c-${crypto.randomBytes(3).toString('hex')}`;
    const alert = (pod: string, status: 'firing' | 'resolved', alertname: string) => ({
      status,
      labels: { alertname, namespace: 'shop', pod, container: 'web', severity: 'critical' },
      annotations: { summary: `${alertname} on ${pod}` },
      startsAt: new Date().toISOString(),
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus/graph',
      fingerprint: crypto.randomBytes(8).toString('hex'),
    });
    const body = {
      version: '4',
      groupKey: '{}:{alertname="x"}',
      truncatedAlerts: 0,
      status: 'firing',
      receiver: 'holdfast',
      groupLabels: {},
      commonLabels: { namespace: 'shop' },
      commonAnnotations: {},
      externalURL: 'http://alertmanager',
      alerts: [
        alert(podA, 'firing', 'CryptoMinerCPU'),
        alert(podA, 'firing', 'OutboundToTor'),
        alert(podB, 'firing', 'CryptoMinerCPU'),
        alert(podC, 'resolved', 'CryptoMinerCPU'),
      ],
    };
    const res = await app.inject({
      method: 'POST',
      url: '/v1/alerts/alertmanager',
      payload: body,
      headers: auth('intake'),
    });
    assert.equal(res.statusCode, 202, res.body);
    const incidents = res.json().incidents as Array<{ incidentId: string; workflowId: string }>;
    assert.equal(incidents.length, 2);
    assert.deepEqual(incidents.map((i) => i.workflowId).sort(), [
      `incident/test/shop/${podA}`,
      `incident/test/shop/${podB}`,
    ]);
    await sleep(500);
    const none = (await app.inject({ url: `/v1/incidents?pod=${podC}`, headers: auth('responder') })).json();
    assert.deepEqual(none.incidents, [], 'resolved alert opened nothing');
    for (const i of incidents)
      await app.inject({
        method: 'POST',
        url: `/v1/incidents/${i.incidentId}/cancel`,
        payload: {},
        headers: auth('responder'),
      });
  });
});
