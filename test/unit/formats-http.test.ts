/**
 * The formats through the real HTTP API (buildServer + alertRoutes, fastify inject, no servers): the
 * body schemas compile under the server's AJV settings, fixtures are accepted, malicious ones are 422
 * naming the field and never reach Temporal, structural violations are 400, and /openapi.json shows them.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { ALERT_FORMATS } from '../../alerts/registry';
import type { IncidentsService } from '../../api/incidents';
import { AlertIntake, type IntakeSink } from '../../api/intake';
import { createApiMetrics } from '../../api/metrics';
import { AlertSpool } from '../../api/spool';
import { alertRoutes } from '../../api/routes/alerts';
import { buildServer, parseJsonExact } from '../../api/server';
import type { Alert, AlertTarget } from '../../common/types';
import type { AlertBatch } from '../../workflows/definitions';
import { fixturesDir } from '../helpers/env';
import { intakeApp } from '../helpers/intake-app';

const INTAKE = 'intake-token-0123456789abcdef';

/** Stands in for Temporal: one run per workflow id, every delivered alert recorded. */
class RecordingSink implements IntakeSink {
  readonly runs = new Map<string, string>();
  readonly delivered: Alert[] = [];
  readonly resolved: Alert[] = [];
  async deliver(workflowId: string, _target: AlertTarget, batch: AlertBatch): Promise<string> {
    this.delivered.push(...batch.alerts.map((a) => a.alert));
    let run = this.runs.get(workflowId);
    if (!run) {
      run = crypto.randomUUID();
      this.runs.set(workflowId, run);
    }
    return run;
  }
  async signalOpen(_workflowId: string, batch: AlertBatch): Promise<boolean> {
    this.resolved.push(...batch.alerts.map((a) => a.alert));
    return true;
  }
  async describeRun() {
    return { startedAt: new Date() };
  }
  reset(): void {
    this.runs.clear();
    this.delivered.length = 0;
    this.resolved.length = 0;
  }
}

const unusedIncidents = {} as IncidentsService;

function fixture(name: string): string {
  return fs.readFileSync(path.join(fixturesDir, 'alerts', name), 'utf8');
}

describe('alert formats over HTTP', () => {
  let app: FastifyInstance;
  const sink = new RecordingSink();
  before(async () => {
    const metrics = createApiMetrics();
    const intake = new AlertIntake(sink, { repeatWindowMs: 0, maxBatch: 100, maxInFlight: 4, maxKeys: 1000 });
    app = await buildServer({
      logger: pino({ level: 'silent' }),
      readiness: {},
      tokens: new Map([[INTAKE, 'intake']]),
      incidents: unusedIncidents,
      metrics,
      routes: [alertRoutes({ intake, metrics, formats: ALERT_FORMATS, defaultCluster: 'default-cluster' })],
    });
  });
  after(() => app.close());
  beforeEach(() => sink.reset());

  const post = (route: string, payload: string) =>
    app.inject({
      method: 'POST',
      url: route,
      payload,
      headers: { authorization: `Bearer ${INTAKE}`, 'content-type': 'application/json' },
    });

  test('valid fixtures are accepted (202) and reach the intake with the mapped target and raw hash', async () => {
    const cases: Array<[string, string, string]> = [
      ['/v1/alerts/falco', 'falco-terminal-shell.json', 'incident/prod-eu-1/shop/web-7d9c6b5f4-x2x9q'],
      [
        '/v1/alerts/falco',
        'falco-host-rule.json',
        'incident/default-cluster/node/ip-10-0-7-19.eu-west-1.compute.internal',
      ],
      [
        '/v1/alerts/guardduty',
        'guardduty-exec-kube-system.json',
        'incident/prod-eu-1/kube-system/coredns-5d78c9869d-8xk2p',
      ],
      ['/v1/alerts', 'generic-pod.json', 'incident/prod-eu-1/shop/worker-6f7b9c8d5-k4m2n'],
      ['/v1/alerts', 'generic-node.json', 'incident/default-cluster/node/ip-10-0-7-19.eu-west-1.compute.internal'],
    ];
    for (const [route, file, workflowId] of cases) {
      sink.reset();
      const raw = fixture(file);
      const res = await post(route, raw);
      assert.equal(res.statusCode, 202, `${file}: ${res.body}`);
      assert.equal(res.json().workflowId, workflowId, file);
      assert.match(res.json().incidentId, /^inc-[0-9a-f-]{36}$/);
      assert.equal(sink.delivered.length, 1);
      assert.equal(
        sink.delivered[0]?.rawSha256,
        crypto.createHash('sha256').update(raw).digest('hex'),
        'hash of the exact bytes',
      );
    }
  });

  test('Alertmanager group: one incident per pod, the resolved alert never opens one', async () => {
    const res = await post('/v1/alerts/alertmanager', fixture('alertmanager-group.json'));
    assert.equal(res.statusCode, 202, res.body);
    const body = res.json() as { incidents: Array<{ workflowId: string }>; resolved: number };
    assert.deepEqual(
      body.incidents.map((i) => i.workflowId),
      ['incident/prod-eu-1/shop/web-7d9c6b5f4-x2x9q'],
    );
    assert.equal(body.resolved, 1);
    assert.equal(sink.delivered.length, 2);
    assert.deepEqual(
      sink.resolved.map((a) => a.target.pod),
      ['cart-5b8f7d6c9-q7w8e'],
    );
  });

  test('malicious payloads: 422 problem+json naming the field; nothing reaches Temporal', async () => {
    const cases: Array<[string, string, string]> = [
      ['/v1/alerts/falco', 'malicious-falco-pod-traversal.json', '/output_fields/k8s.pod.name'],
      ['/v1/alerts/falco', 'malicious-falco-pod-subshell.json', '/output_fields/k8s.pod.name'],
      ['/v1/alerts/falco', 'malicious-falco-namespace-newline.json', '/output_fields/k8s.ns.name'],
      ['/v1/alerts/guardduty', 'malicious-guardduty-cluster.json', '/detail/resource/eksClusterDetails/name'],
      ['/v1/alerts', 'malicious-generic-overlong-pod.json', '/target/pod'],
    ];
    for (const [route, file, field] of cases) {
      const res = await post(route, fixture(file));
      assert.equal(res.statusCode, 422, `${file}: ${res.body}`);
      assert.match(res.headers['content-type'] as string, /^application\/problem\+json/);
      const problem = res.json() as { status: number; errors: Array<{ field: string; message: string }> };
      assert.equal(problem.status, 422);
      assert.equal(problem.errors[0]?.field, field, file);
      assert.ok(!res.body.includes('rm -rf') && !res.body.includes('../'), 'the answer does not echo the value');
    }
    assert.equal(sink.delivered.length, 0);
  });

  test('one bad entry does not lose an Alertmanager group: the others are accepted, it is listed and counted', async () => {
    const res = await post('/v1/alerts/alertmanager', fixture('malicious-alertmanager-container.json'));
    assert.equal(res.statusCode, 202, res.body);
    const body = res.json() as {
      incidents: Array<{ workflowId: string }>;
      rejected: Array<{ field: string; message: string; reason: string }>;
    };
    assert.deepEqual(
      body.incidents.map((i) => i.workflowId),
      ['incident/default-cluster/shop/web-1'],
    );
    assert.deepEqual(
      body.rejected.map((r) => [r.field, r.reason]),
      [['/alerts/1/labels/container', 'invalid_name']],
    );
    assert.ok(!res.body.includes('curl') && !res.body.includes('203.0.113.9'), 'the answer does not echo the value');
    assert.deepEqual(
      sink.delivered.map((a) => a.target.pod),
      ['web-1'],
    );
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    assert.match(
      metrics.body,
      /holdfast_alerts_received_total\{source="alertmanager",outcome="rejected",reason="invalid_name"\} 1/,
    );
  });

  test('a group of only bad entries is 422 listing each; alerts naming neither pod nor node are not actionable', async () => {
    const group = JSON.parse(fixture('alertmanager-group.json')) as {
      alerts: Array<{ labels: Record<string, string> }>;
    };
    const bad = structuredClone(group);
    bad.alerts = bad.alerts.slice(0, 2).map((a) => ({ ...a, labels: { ...a.labels, pod: 'Bad_Pod' } }));
    const refused = await post('/v1/alerts/alertmanager', JSON.stringify(bad));
    assert.equal(refused.statusCode, 422, refused.body);
    const problem = refused.json() as { errors: Array<{ field: string; reason: string }> };
    assert.deepEqual(
      problem.errors.map((e) => [e.field, e.reason]),
      [
        ['/alerts/0/labels/pod', 'invalid_name'],
        ['/alerts/1/labels/pod', 'invalid_name'],
      ],
    );
    // A service-level alert (no pod, no node) beside a pod alert: the pod alert opens its incident.
    const mixed = structuredClone(group);
    const { pod: _pod, namespace: _ns, container: _c, ...service } = mixed.alerts[0]!.labels;
    mixed.alerts.push({ ...mixed.alerts[0]!, labels: { ...service, alertname: 'HighErrorRate' } });
    const res = await post('/v1/alerts/alertmanager', JSON.stringify(mixed));
    assert.equal(res.statusCode, 202, res.body);
    const body = res.json() as { incidents: unknown[]; notActionable: Array<{ field: string; reason: string }> };
    assert.equal(body.incidents.length, 1);
    assert.deepEqual(
      body.notActionable.map((n) => [n.field, n.reason]),
      [[`/alerts/${mixed.alerts.length - 1}/labels/pod`, 'not_actionable']],
    );
    // Alone, through a single-alert format: 202, no incident, and the answer says why.
    const generic = JSON.parse(fixture('generic-pod.json')) as { target: Record<string, string> };
    const single = await post('/v1/alerts', JSON.stringify({ ...generic, target: { cluster: 'prod-eu-1' } }));
    assert.equal(single.statusCode, 202, single.body);
    assert.deepEqual((single.json() as { incidents: unknown[] }).incidents, []);
    assert.equal(
      (single.json() as { notActionable: Array<{ reason: string }> }).notActionable[0]?.reason,
      'not_actionable',
    );
  });

  test("large integers keep every digit: Falco's nanosecond evt.time is stored as sent, not rounded", async () => {
    const raw = fixture('falco-terminal-shell.json');
    assert.match(raw, /"evt\.time": 1795961527481632214/);
    const res = await post('/v1/alerts/falco', raw);
    assert.equal(res.statusCode, 202, res.body);
    assert.equal(sink.delivered[0]?.labels['evt.time'], '1795961527481632214');
    assert.notEqual(String(JSON.parse(raw).output_fields['evt.time']), '1795961527481632214', 'JSON.parse rounds it');
    // Numbers a double holds exactly stay numbers; floats too.
    assert.deepEqual(parseJsonExact('{"a":1,"b":1.5,"c":9007199254740993,"d":"x"}'), {
      a: 1,
      b: 1.5,
      c: '9007199254740993',
      d: 'x',
    });
  });

  test('injected text is neutralized but the alert is accepted', async () => {
    const res = await post('/v1/alerts/falco', fixture('malicious-falco-output-injection.json'));
    assert.equal(res.statusCode, 202, res.body);
    const alert = sink.delivered[0];
    assert.ok(alert);
    // eslint-disable-next-line no-control-regex
    assert.ok(!/[\r\n\u001b\u202e\u0000]/.test(alert.summary));
    assert.ok(Buffer.byteLength(alert.summary) <= 4096);
  });

  test('structural violations are 400 from the schema', async () => {
    const generic = JSON.parse(fixture('generic-pod.json')) as Record<string, unknown>;
    const extra = await post('/v1/alerts', JSON.stringify({ ...generic, shell: 'x' }));
    assert.equal(extra.statusCode, 400);
    const falcoNoRule = JSON.parse(fixture('falco-terminal-shell.json')) as Record<string, unknown>;
    delete falcoNoRule.rule;
    assert.equal((await post('/v1/alerts/falco', JSON.stringify(falcoNoRule))).statusCode, 400);
    const gd = JSON.parse(fixture('guardduty-exec-kube-system.json')) as Record<string, unknown>;
    assert.equal(
      (await post('/v1/alerts/guardduty', JSON.stringify({ ...gd, 'detail-type': 'AWS API Call via CloudTrail' })))
        .statusCode,
      400,
    );
    assert.equal(sink.delivered.length, 0);
  });

  test('/openapi.json documents every format route with its body schema', async () => {
    const doc = (await app.inject({ url: '/openapi.json' })).json() as {
      paths: Record<
        string,
        { post?: { requestBody?: { content: Record<string, { schema: { properties?: object } }> } } }
      >;
    };
    for (const f of ALERT_FORMATS) {
      const schema = doc.paths[f.route]?.post?.requestBody?.content['application/json']?.schema;
      assert.ok(schema?.properties, `${f.route} has a documented body`);
    }
  });
});

/**
 * An API with a spool whose Temporal hangs the `hangingCall`-th delivery until `release()`, as it does under
 * load; `post(n)` sends a Falco alert made distinct by `#n`.
 */
async function stormApi(hangingCall: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-spool-storm-'));
  const spool = AlertSpool.openDir({ dir, maxBytes: 1024 * 1024 });
  const slow = new RecordingSink();
  const deliver = slow.deliver.bind(slow);
  const state = { calls: 0, release: (): void => undefined };
  slow.deliver = async (...args) => {
    state.calls += 1;
    if (state.calls === hangingCall) await new Promise<void>((resolve) => (state.release = resolve));
    return deliver(...args);
  };
  const intake = new AlertIntake(slow, { repeatWindowMs: 60_000, maxBatch: 100, maxInFlight: 4, maxKeys: 1000 });
  const { app } = await intakeApp(intake, INTAKE, { defaultCluster: 'default-cluster', spool });
  const post = (n: number) => {
    const falco = JSON.parse(fixture('falco-terminal-shell.json')) as { output: string; uuid?: string };
    falco.output = `${falco.output} #${n}`;
    delete falco.uuid;
    return app.inject({
      method: 'POST',
      url: '/v1/alerts/falco',
      payload: falco,
      headers: { authorization: `Bearer ${INTAKE}`, 'content-type': 'application/json' },
    });
  };
  /** The summaries the spool holds, delivered (and removed) now. */
  const drained = async () => {
    const delivered: string[] = [];
    await spool.drain(async (batch) => void delivered.push(...batch.map((a) => a.summary)));
    return delivered;
  };
  return { app, spool, state, post, drained };
}

describe('a storm of distinct alerts with a spool', () => {
  test('while its incident takes deliveries, an alert is fsynced and answered at once, naming that incident', async () => {
    // The first delivery is quick; the second hangs, as Temporal's paced deliveries do.
    const { app, spool, state, post, drained } = await stormApi(2);
    try {
      const first = await post(1);
      assert.equal(first.statusCode, 202, first.body);
      assert.equal(first.json().spooled, undefined, 'a first alert is answered by Temporal');
      const second = post(2); // its delivery hangs
      while (state.calls < 2) await sleep(5);
      const third = await post(3);
      assert.equal(third.statusCode, 202, third.body);
      assert.equal(third.json().spooled, true, 'on disk, not waiting for the delivery under way');
      assert.equal(third.json().incidentId, first.json().incidentId, 'the answer names the incident that will hold it');
      assert.ok(spool.inUse);
      state.release();
      assert.equal((await second).json().incidentId, first.json().incidentId);
      const delivered = await drained();
      assert.equal(delivered.length, 1);
      assert.match(delivered[0]!, /#3$/);
    } finally {
      await app.close();
    }
  });

  test('an alert behind the delivery that opens its incident is fsynced, then answered naming that incident', async () => {
    // The first delivery (it opens the incident) hangs, as Temporal does while it opens many at once.
    const { app, spool, state, post, drained } = await stormApi(1);
    try {
      const first = post(1);
      while (state.calls < 1) await sleep(5);
      let secondAnswered = false;
      const second = post(2).then((res) => ((secondAnswered = true), res));
      // On disk before any answer: the spool holds it while the first delivery is still on its way.
      while (!spool.inUse) await sleep(5);
      await sleep(50);
      assert.equal(secondAnswered, false, 'the answer waits for the name');
      state.release();
      const [opened, behind] = await Promise.all([first, second]);
      assert.equal(opened.statusCode, 202, opened.body);
      assert.equal(behind.statusCode, 202, behind.body);
      assert.equal(behind.json().spooled, true);
      assert.equal(behind.json().incidentId, opened.json().incidentId, 'named by the delivery that opened it');
      const delivered = await drained();
      assert.deepEqual(
        delivered.map((summary) => summary.slice(-2)),
        ['#2'],
      );
    } finally {
      await app.close();
    }
  });
});

describe('Temporal away', () => {
  /** An API whose Temporal never answers, with a 200 ms delivery deadline, optionally with a spool. */
  async function stalledApi(spool?: AlertSpool) {
    const stalled = new RecordingSink();
    stalled.deliver = () => new Promise<string>(() => undefined); // Temporal never answers
    const intake = new AlertIntake(stalled, { repeatWindowMs: 0, maxBatch: 100, maxInFlight: 4, maxKeys: 1000 });
    const { app } = await intakeApp(intake, INTAKE, {
      defaultCluster: 'default-cluster',
      deliveryDeadlineMs: 200,
      ...(spool ? { spool } : {}),
    });
    const post = () =>
      app.inject({
        method: 'POST',
        url: '/v1/alerts/falco',
        payload: fixture('falco-terminal-shell.json'),
        headers: { authorization: `Bearer ${INTAKE}`, 'content-type': 'application/json' },
      });
    return { app, post };
  }

  test('an alert Temporal does not take within the deadline is answered 503 with Retry-After, not left hanging', async () => {
    const { app, post } = await stalledApi();
    try {
      const started = Date.now();
      const res = await post();
      assert.equal(res.statusCode, 503, res.body);
      assert.equal(res.headers['retry-after'], '10');
      assert.match(res.headers['content-type'] as string, /^application\/problem\+json/);
      assert.ok(Date.now() - started < 5000);
    } finally {
      await app.close();
    }
  });

  test('with a spool, an alert Temporal does not take is fsynced and answered 202 spooled; later ones queue behind', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-spool-route-'));
    const spool = AlertSpool.openDir({ dir, maxBytes: 1024 * 1024 });
    const { app, post } = await stalledApi(spool);
    try {
      const first = await post();
      assert.equal(first.statusCode, 202, first.body);
      assert.equal(first.json().spooled, true);
      const started = Date.now();
      const second = await post();
      assert.equal(second.json().spooled, true);
      assert.ok(Date.now() - started < 200, 'queued behind the spool at once, without waiting for Temporal');
      const delivered: string[] = [];
      await spool.drain(async (batch) => {
        delivered.push(...batch.map((a) => a.rule));
      });
      assert.equal(delivered.length, 2);
    } finally {
      await app.close();
    }
  });
});
