/**
 * A real Prometheus Alertmanager (the pinned v0.35.0, built from source by scripts/servers.ts) sends to the
 * real API routes, which deliver to a real worker on the real Temporal dev server (fake cluster, evidence
 * and notifiers). Alerts go into Alertmanager through its API; what it sends, when and how often (group_wait,
 * group_interval, repeat_interval, resolved notices) is its own doing. The API's answers are recorded as
 * they leave, next to the body Alertmanager sent, so what Alertmanager was told can be checked too.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import pino from 'pino';
import { ALERT_FORMATS } from '../../alerts/registry';
import { temporalIncidents } from '../../api/incidents';
import { AlertIntake, API_INTAKE_OPTIONS } from '../../api/intake';
import { createApiMetrics, type ApiMetrics } from '../../api/metrics';
import { alertRoutes } from '../../api/routes/alerts';
import { buildServer } from '../../api/server';
import { temporalSink } from '../../api/temporal-sink';
import { incidentWorkflowId } from '../../workflows/definitions';
import { startAlertmanager, type PostableAlert, type RunningAlertmanager } from '../helpers/alertmanager';
import { missingServers } from '../helpers/env';
import { startHarness, type Harness } from '../helpers/incident-harness';

const PLAYBOOKS = `
notifiers: [{ name: oncall, type: webhook }]
playbooks:
  - name: am-test
    capture: [logs]
    escalation: { tiers: [{ notifiers: [oncall], ackTimeout: 300s }] }
`;
const TOKENS = { intake: 'am-intake-token-0123456789', responder: 'am-responder-token-0123456789' };
const REPEAT_INTERVAL_S = 2;

/** One notification as Alertmanager sent it and as the API answered it. */
interface Exchange {
  at: number;
  status: number;
  sent: {
    groupKey?: string;
    status: string;
    alerts: Array<{ status: string; labels: Record<string, string>; startsAt: string; fingerprint?: string }>;
  };
  answer: {
    incidents?: Array<{ incidentId: string; workflowId: string; deduplicated: boolean; alreadyResolved?: boolean }>;
    resolved?: number;
    rejected?: Array<{ field: string; message: string; reason: string }>;
    notActionable?: Array<{ field: string; message: string; reason: string }>;
  };
}

interface IncidentBody {
  status: { incidentId: string; phase: string; alertCount: number; resends?: number };
  alerts: Array<{ count: number; resends?: number; alert: { id: string } }>;
  running: boolean;
  runId: string;
}

/** Waits for `check` to return a value, at most `ms`; the error says what was awaited and what was last seen. */
async function until<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err instanceof Error ? err.message : err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000}s waiting for ${what}; last: ${last}`);
    await sleep(250);
  }
}

async function counted(metrics: ApiMetrics, outcome: string, reason?: string): Promise<number> {
  const { values } = await metrics.alertsReceived.get();
  return values
    .filter((v) => v.labels.source === 'alertmanager' && v.labels.outcome === outcome)
    .filter((v) => reason === undefined || v.labels.reason === reason)
    .reduce((sum, v) => sum + v.value, 0);
}

describe('a real Alertmanager sending to the API', { skip: missingServers() }, () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-alertmanager-'));
  const exchanges: Exchange[] = [];
  let h: Harness;
  let app: FastifyInstance;
  let metrics: ApiMetrics;
  let am: RunningAlertmanager;

  before(async () => {
    h = await startHarness(PLAYBOOKS);
    metrics = createApiMetrics();
    const intake = new AlertIntake(temporalSink(h.client, new Map([['test', h.taskQueue]])), {
      ...API_INTAKE_OPTIONS,
      // The API's options, but re-send counts reach the incident within a second instead of backing off to
      // a minute: the test waits for them.
      repeatFlushMs: 250,
      repeatFlushMaxMs: 1000,
    });
    // Registered before the routes (and not encapsulated) so that its hook sees every alert route's answer.
    const recorder = fp(async (instance: FastifyInstance) => {
      instance.addHook('onSend', async (request, reply, payload) => {
        if (request.url === '/v1/alerts/alertmanager' && typeof payload === 'string')
          exchanges.push({
            at: Date.now(),
            status: reply.statusCode,
            sent: request.body as Exchange['sent'],
            answer: JSON.parse(payload) as Exchange['answer'],
          });
        return payload;
      });
    });
    app = await buildServer({
      logger: pino({ level: 'silent' }),
      readiness: {},
      tokens: new Map(Object.entries(TOKENS).map(([role, token]) => [token, role as 'intake'])),
      incidents: temporalIncidents(h.client, h.client.options.namespace),
      metrics,
      routes: [recorder, alertRoutes({ intake, metrics, formats: ALERT_FORMATS, defaultCluster: 'test' })],
    });
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    am = await startAlertmanager({
      dataDir,
      webhookUrl: `${address}/v1/alerts/alertmanager`,
      token: TOKENS.intake,
      groupBy: ['alertname'],
      timing: { groupWait: '2s', groupInterval: '1s', repeatInterval: `${REPEAT_INTERVAL_S}s` },
    });
  });
  after(async () => {
    await am?.stop();
    await app?.close();
    await h?.close();
    // What Alertmanager sent and was answered, next to its log: kept with HOLDFAST_KEEP_TEST_DATA=1.
    fs.writeFileSync(path.join(dataDir, 'exchanges.json'), JSON.stringify(exchanges, null, 1));
    if (process.env.HOLDFAST_KEEP_TEST_DATA !== '1') fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const incident = async (incidentId: string): Promise<IncidentBody> => {
    const res = await app.inject({
      url: `/v1/incidents/${incidentId}`,
      headers: { authorization: `Bearer ${TOKENS.responder}` },
    });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as IncidentBody;
  };
  /** Notifications that carried the pod's alert as firing, answered after `since`. */
  const firingFor = (pod: string, since = 0) =>
    exchanges.filter((e) => e.at > since && e.sent.alerts.some((a) => a.labels.pod === pod && a.status === 'firing'));
  const answerFor = (e: Exchange, pod: string) =>
    e.answer.incidents?.find((i) => i.workflowId === incidentWorkflowId({ cluster: 'test', namespace: 'shop', pod }));

  test('the pinned Alertmanager runs', () => {
    assert.equal(am.version, '0.35.0');
  });

  // Bounded: each wait below has its own limit and message; this catches anything else that hangs.
  test(
    'a group with an invalid pod name and a service-level alert: the pod alerts open incidents; re-sends are not occurrences; a resolve sticks; firing anew opens a new incident',
    { timeout: 240_000 },
    async () => {
      const suffix = crypto.randomBytes(3).toString('hex');
      const alertname = `HoldfastShell${suffix}`;
      const [podA, podB] = [`web-a-${suffix}`, `web-b-${suffix}`];
      const labels = (extra: Record<string, string>) => ({ alertname, severity: 'critical', ...extra });
      // Now, not earlier: Alertmanager flushes a group at once, without group_wait, for an alert that started
      // more than group_wait ago, and would then send the group before all four alerts are in it.
      const firstStart = new Date().toISOString();
      const podAlert = (pod: string, startsAt = firstStart): PostableAlert => ({
        labels: labels({ namespace: 'shop', pod, container: 'web' }),
        annotations: { summary: `Interactive shell in shop/${pod}` },
        startsAt,
      });
      const started = Date.now();
      await am.push([
        podAlert(podA),
        podAlert(podB),
        // Not a valid Kubernetes pod name: refused, with its pointer and reason.
        { labels: labels({ namespace: 'shop', pod: 'Bad_Pod!' }), startsAt: firstStart },
        // A service-level alert: no pod, no node. Not an error, not actionable.
        { labels: labels({ namespace: 'shop', service: 'checkout' }), startsAt: firstStart },
      ]);

      // 1. The first notification: 202, the two pod alerts open two incidents, the others are listed.
      const first = await until('the first notification of the group', 30_000, async () => firingFor(podA)[0]);
      assert.equal(first.status, 202, JSON.stringify(first.answer));
      assert.equal(first.sent.alerts.length, 4, 'Alertmanager sent the four alerts as one group');
      const at = (field: string) => {
        const index = Number(/^\/alerts\/(\d+)\//.exec(field)?.[1]);
        return first.sent.alerts[index]?.labels;
      };
      assert.deepEqual(
        first.answer.rejected?.map((r) => ({
          reason: r.reason,
          pod: at(r.field)?.pod,
          field: r.field.replace(/\d+/, 'i'),
        })),
        [{ reason: 'invalid_name', pod: 'Bad_Pod!', field: '/alerts/i/labels/pod' }],
      );
      assert.deepEqual(
        first.answer.notActionable?.map((r) => ({ reason: r.reason, service: at(r.field)?.service })),
        [{ reason: 'not_actionable', service: 'checkout' }],
      );
      const a = answerFor(first, podA);
      const b = answerFor(first, podB);
      assert.ok(a && b, `both pod alerts opened incidents: ${JSON.stringify(first.answer)}`);
      assert.notEqual(a.incidentId, b.incidentId);
      assert.equal(first.answer.incidents?.length, 2, 'nothing else opened an incident');
      for (const id of [a.incidentId, b.incidentId]) {
        const body = await until(`incident ${id} to run`, 30_000, async () => {
          const got = await incident(id);
          return got.status.alertCount === 1 ? got : undefined;
        });
        assert.equal(body.running, true);
      }
      // Counted per alert, with bounded reasons.
      assert.ok((await counted(metrics, 'not_actionable')) >= 1);
      assert.equal(await counted(metrics, 'rejected', 'not_actionable'), 0, 'not actionable is not a rejection');
      // Every notification so far carried the bad entry once; the next one is a repeat_interval away.
      const withBadEntry = exchanges.filter((e) => e.sent.alerts.some((x) => x.labels.pod === 'Bad_Pod!')).length;
      assert.equal(await counted(metrics, 'rejected', 'invalid_name'), withBadEntry);

      // 2. Alertmanager re-sends the firing group every repeat_interval: notifications, not occurrences.
      await until('three re-sends of the group', 30_000, async () => (firingFor(podA).length >= 4 ? true : undefined));
      for (const e of firingFor(podA)) {
        assert.equal(e.status, 202);
        assert.equal(answerFor(e, podA)?.incidentId, a.incidentId, 'every re-send names the same incident');
        assert.equal(answerFor(e, podB)?.incidentId, b.incidentId);
      }
      const resent = await until('the re-sends to be counted on the incident', 15_000, async () => {
        const got = await incident(a.incidentId);
        return (got.status.resends ?? 0) >= 3 ? got : undefined;
      });
      assert.equal(resent.status.alertCount, 1, 're-sends do not raise the occurrence count');
      assert.deepEqual(
        resent.alerts.map((r) => r.count),
        [1],
        'one alert record, one occurrence',
      );
      assert.ok(resent.alerts[0]!.alert.id.startsWith('am-'), 'the id is Alertmanager fingerprint + startsAt');

      // 3. A responder resolves pod A's incident while Alertmanager keeps re-sending it: no new incident.
      const resolve = await app.inject({
        method: 'POST',
        url: `/v1/incidents/${a.incidentId}/resolve`,
        headers: { authorization: `Bearer ${TOKENS.responder}` },
        payload: { note: 'shell was an approved debug session' },
      });
      assert.equal(resolve.statusCode, 202, resolve.body);
      await until('the incident to close as resolved', 20_000, async () => {
        const got = await incident(a.incidentId);
        return !got.running && got.status.phase === 'resolved' ? true : undefined;
      });
      const resolvedAt = Date.now();
      const afterResolve = await until('three re-sends after the resolve', 30_000, async () => {
        const sends = firingFor(podA, resolvedAt);
        return sends.length >= 3 ? sends : undefined;
      });
      for (const e of afterResolve) {
        assert.equal(e.status, 202);
        assert.equal(answerFor(e, podA)?.incidentId, a.incidentId, 'the answer names the resolved incident');
      }
      assert.equal(
        answerFor(afterResolve[afterResolve.length - 1]!, podA)?.alreadyResolved,
        true,
        `the answer says the instance was resolved: ${JSON.stringify(afterResolve.map((e) => answerFor(e, podA)))}`,
      );
      // Let the intake's repeat counts settle (they are flushed within a second), then look at Temporal itself.
      await sleep(1500);
      const latest = await h.client.workflow
        .getHandle(incidentWorkflowId({ cluster: 'test', namespace: 'shop', pod: podA }))
        .describe();
      assert.equal(latest.runId, a.incidentId.slice('inc-'.length), 'no new incident was started for pod A');
      assert.equal(latest.status.name, 'COMPLETED');
      assert.equal((await incident(b.incidentId)).running, true, 'pod B is still open');

      // 4. The alert resolves in Alertmanager (endsAt), then fires anew (a new startsAt): a new incident.
      await am.push([{ ...podAlert(podA), endsAt: new Date().toISOString() }]);
      const notice = await until('the resolved notice for pod A', 30_000, async () =>
        exchanges.find((e) => e.sent.alerts.some((x) => x.labels.pod === podA && x.status === 'resolved')),
      );
      // Recorded on an open incident only: pod A's is closed, so nothing names it and nothing opens.
      assert.equal(notice.status, 202);
      assert.equal(notice.answer.resolved, 1);
      assert.equal(answerFor(notice, podA), undefined);
      const anewAt = Date.now();
      await am.push([podAlert(podA, new Date().toISOString())]);
      const anew = await until('the notification of pod A firing anew', 30_000, async () =>
        firingFor(podA, anewAt).find((e) =>
          e.sent.alerts.some((x) => x.labels.pod === podA && Date.parse(x.startsAt) > Date.parse(firstStart)),
        ),
      );
      const opened = answerFor(anew, podA);
      assert.ok(opened, JSON.stringify(anew.answer));
      assert.notEqual(opened.incidentId, a.incidentId, 'firing anew opens a new incident, never the resolved one');
      assert.ok(!opened.alreadyResolved);
      assert.equal(opened.deduplicated, false);
      const next = await until('the new incident to hold the alert', 20_000, async () => {
        const got = await incident(opened.incidentId);
        return got.status.alertCount === 1 ? got : undefined;
      });
      assert.equal(next.running, true);
      assert.equal(next.alerts.length, 1);
      assert.notEqual(next.alerts[0]!.alert.id, resent.alerts[0]!.alert.id, 'a new instance: a new sender id');
      // Pod B's incident never saw more than its one occurrence, whatever Alertmanager re-sent.
      const bNow = await incident(b.incidentId);
      assert.equal(bNow.status.alertCount, 1);
      assert.ok((bNow.status.resends ?? 0) >= 3);

      // Responders close what is still open, so the worker is idle when the harness stops.
      for (const id of [opened.incidentId, b.incidentId])
        await app.inject({
          method: 'POST',
          url: `/v1/incidents/${id}/resolve`,
          headers: { authorization: `Bearer ${TOKENS.responder}` },
          payload: {},
        });
      process.stderr.write(`[alertmanager test] scenario took ${Math.round((Date.now() - started) / 1000)}s\n`);
    },
  );
});
