import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { parsePlaybooks } from '../../activities/playbooks';
import { stormPlan } from '../../activities/scope';
import { createStepActivities } from '../../activities/steps/activities';
import { AlertIntake, stormWorkflowId, type IntakeOptions, type IntakeSink } from '../../api/intake';
import type { AlertTarget } from '../../common/types';
import type { AlertBatch } from '../../workflows/definitions';
import { FakeCluster } from '../fakes/cluster';
import { MemoryEvidenceStore } from '../fakes/evidence-store';
import { sampleAlert } from '../helpers/incident-harness';
import { intakeApp } from '../helpers/intake-app';

/** Stands in for Temporal: one run per key, the storm flag of each start, what each key received. */
class ScopeSink implements IntakeSink {
  readonly runs = new Map<string, { runId: string; storm: boolean; alerts: string[] }>();
  /** Keys with an incident open before this intake existed (e.g. before an API restart). */
  readonly openBefore = new Set<string>();
  async deliver(workflowId: string, _target: AlertTarget, batch: AlertBatch, storm?: boolean): Promise<string> {
    const run = this.runs.get(workflowId) ?? { runId: crypto.randomUUID(), storm: storm === true, alerts: [] };
    run.alerts.push(...batch.alerts.map((a) => a.alert.id));
    this.runs.set(workflowId, run);
    return run.runId;
  }
  async signalOpen(): Promise<boolean> {
    return true;
  }
  async describeRun() {
    return { startedAt: new Date() };
  }
  async openRun(workflowId: string) {
    if (!this.openBefore.has(workflowId)) return undefined;
    const runId = crypto.randomUUID();
    this.runs.set(workflowId, { runId, storm: false, alerts: [] });
    return { runId, incidentId: `inc-${runId}` };
  }
  /** Incidents opened for pods (not the storm). */
  get podIncidents(): number {
    return [...this.runs.values()].filter((r) => !r.storm && r.alerts.length > 0).length;
  }
  stormAlerts(cluster: string): number {
    return this.runs.get(stormWorkflowId(cluster))?.alerts.length ?? 0;
  }
}

const base: IntakeOptions = { repeatWindowMs: 60_000, maxBatch: 200, maxInFlight: 8, maxKeys: 100_000 };
const limits = (perSource: number, perNamespace: number, perRequest: number) => ({
  ...base,
  creation: { perSourcePerMinute: perSource, perNamespacePerMinute: perNamespace, perRequest },
});
const pod = (i: number, namespace = 'shop') => ({ cluster: 'c', namespace, pod: `pod-${i}` });

describe('incident creation limits (api/intake.ts)', () => {
  test('one request opens at most perRequest incidents; its other targets go to the storm incident, none lost', async () => {
    const sink = new ScopeSink();
    const intake = new AlertIntake(sink, limits(10_000, 10_000, 10));
    const request = { opened: 0 };
    const answers = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => intake.accept(sampleAlert({ id: `a-${i}` }, pod(i)), undefined, request)),
    );
    assert.equal(sink.podIncidents, 10);
    assert.equal(sink.stormAlerts('c'), 990);
    assert.equal(answers.filter((a) => a.storm).length, 990);
    assert.ok(answers.filter((a) => a.storm).every((a) => a.workflowId === 'incident/c/storm'));
    assert.equal(sink.runs.get('incident/c/storm')?.storm, true, 'the storm incident is started as one');
    // Every alert went somewhere: the 10 incidents' plus the storm's.
    const delivered = [...sink.runs.values()].reduce((n, r) => n + r.alerts.length, 0);
    assert.equal(delivered, 1000);
  });

  test('a source, and a namespace, open at most their per-minute bucket; other namespaces and sources are unaffected', async () => {
    const sink = new ScopeSink();
    const intake = new AlertIntake(sink, limits(30, 5, 1000));
    // 100 distinct pods in one namespace from falco: the namespace bucket (5) binds.
    await Promise.all(Array.from({ length: 100 }, (_, i) => intake.accept(sampleAlert({ id: `f-${i}` }, pod(i)))));
    assert.equal(sink.podIncidents, 5);
    // 100 pods across 100 namespaces from the same source: the source bucket (30, 5 already used) binds.
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => intake.accept(sampleAlert({ id: `g-${i}` }, pod(i, `ns-${i}`)))),
    );
    assert.equal(sink.podIncidents, 30);
    // Another source has its own bucket (namespaces ns-90.. are untouched).
    await intake.accept(sampleAlert({ id: 'gd-1', source: 'guardduty' }, pod(1, 'ns-99')));
    assert.equal(sink.podIncidents, 31);
    assert.equal(sink.stormAlerts('c'), 170);
  });

  test('a diverted alert repeated folds into the storm; an alert for a key already admitted is never diverted', async () => {
    const sink = new ScopeSink();
    const intake = new AlertIntake(sink, limits(1, 1, 10));
    const first = await intake.accept(sampleAlert({ id: 'x-1', summary: 'first' }, pod(1)));
    assert.equal(first.storm, undefined);
    // The same pod again, a new alert: its key is admitted, so it joins its incident whatever the buckets say.
    const again = await intake.accept(sampleAlert({ id: 'x-2', summary: 'second' }, pod(1)));
    assert.equal(again.workflowId, first.workflowId);
    const diverted = await intake.accept(sampleAlert({ id: 'y-1', summary: 'other pod' }, pod(2)));
    assert.equal(diverted.storm, true);
    const repeat = await intake.accept(sampleAlert({ id: 'y-2', summary: 'other pod' }, pod(2)));
    assert.equal(repeat.storm, true);
    assert.equal(repeat.deduplicated, true, 'an identical alert folds into the storm delivery');
    assert.equal(sink.stormAlerts('c'), 1);
  });

  test('beyond the limits, a key whose incident is already open (unknown to this process) still gets its alert', async () => {
    const sink = new ScopeSink();
    const intake = new AlertIntake(sink, limits(1, 1, 10));
    await intake.accept(sampleAlert({ id: 'use-the-token' }, pod(1)));
    sink.openBefore.add('incident/c/shop/pod-2');
    const answer = await intake.accept(sampleAlert({ id: 'open-before' }, pod(2)));
    assert.equal(answer.storm, undefined);
    assert.equal(answer.workflowId, 'incident/c/shop/pod-2');
    assert.deepEqual(sink.runs.get('incident/c/shop/pod-2')?.alerts, ['open-before']);
    assert.equal(sink.stormAlerts('c'), 0);
  });

  test('an Alertmanager group of 1000 distinct pods over HTTP: perRequest incidents, the rest listed on the storm incident', async () => {
    const sink = new ScopeSink();
    const intake = new AlertIntake(sink, limits(10_000, 10_000, 25));
    const { app, metrics } = await intakeApp(intake, 'intake-token-0123456789abcdef', {
      defaultCluster: 'prod',
      knownClusters: new Set(['prod']),
    });
    try {
      const alert = (i: number, cluster = 'prod') => ({
        status: 'firing',
        labels: { alertname: 'CryptoMiner', cluster, namespace: `ns-${i % 7}`, pod: `miner-${i}` },
        annotations: {},
        startsAt: '2026-12-02T10:00:00Z',
        fingerprint: `f${i.toString(16).padStart(15, '0')}`,
      });
      const group = (alerts: unknown[]) => ({
        version: '4',
        groupKey: 'g',
        status: 'firing',
        receiver: 'holdfast',
        groupLabels: {},
        commonLabels: {},
        commonAnnotations: {},
        externalURL: 'http://am',
        alerts,
      });
      const post = (body: unknown) =>
        app.inject({
          method: 'POST',
          url: '/v1/alerts/alertmanager',
          payload: body as object,
          headers: { authorization: 'Bearer intake-token-0123456789abcdef' },
        });
      const res = await post(group([...Array.from({ length: 999 }, (_, i) => alert(i)), alert(999, 'elsewhere')]));
      assert.equal(res.statusCode, 202, res.body);
      const answer = res.json() as { incidents: Array<{ storm?: boolean }>; rejected: Array<{ reason: string }> };
      assert.equal(sink.podIncidents, 25);
      assert.equal(sink.stormAlerts('prod'), 999 - 25);
      assert.equal(answer.incidents.filter((i) => i.storm).length, 1, 'the storm incident is listed once');
      assert.deepEqual(
        answer.rejected.map((r) => r.reason),
        ['unknown_cluster'],
      );
      const counted = await metrics.registry.getSingleMetricAsString('holdfast_alerts_received_total');
      assert.match(counted, /outcome="storm"} 974/);
      // A body whose every entry names a cluster not served: 422, nothing delivered.
      const before = sink.runs.size;
      const refused = await post(group([alert(1, 'elsewhere'), alert(2, 'elsewhere')]));
      assert.equal(refused.statusCode, 422, refused.body);
      assert.equal(sink.runs.size, before);
    } finally {
      await app.close();
    }
  });
});

describe('plans in protected namespaces and for storms (activities/scope.ts)', () => {
  const yaml = `
notifiers: [{ name: oncall, type: webhook, url: "http://127.0.0.1:9/x" }, { name: boss, type: webhook, url: "http://127.0.0.1:9/y" }]
playbooks:
  - name: everything
    match: { rules: ["Everything*"] }
    capture: [filesystem, memory, logs, network]
    contain: [isolate, { name: cordon, approval: { required: true, timeout: 5m, onTimeout: approve } }]
    escalation: { tiers: [{ notifiers: [oncall] }, { notifiers: [boss] }], repeatLastTier: 3 }
    pageIfTargetNotFound: true
  - name: memory-too
    match: { rules: ["Memory*"] }
    capture: [memory]
    inProtectedNamespaces: { captureMemory: true }
`;
  const playbooks = parsePlaybooks(yaml, 'scope.yaml', {
    apiBaseUrl: 'http://h',
    protectedNamespaces: ['kube-system', 'holdfast'],
  });
  const plan = (rule: string, namespace: string) =>
    playbooks.select(sampleAlert({ rule }), { cluster: 'c', namespace, pod: 'p' });

  test('kube-system: every containment waits for a human and silence means no; memory off; preserve only records', () => {
    const p = plan('Everything here', 'kube-system');
    assert.deepEqual(
      p.containment.map((c) => [c.name, c.approval]),
      [
        ['isolate', { required: true, timeoutSeconds: 900, onTimeout: 'reject' }],
        ['cordon', { required: true, timeoutSeconds: 300, onTimeout: 'reject' }],
      ],
    );
    assert.deepEqual(
      p.captures.map((c) => c.name),
      ['filesystem', 'logs', 'network'],
    );
    assert.equal(p.preserve?.params.recordOnly, true);
    assert.match(p.notes?.join(' ') ?? '', /namespace kube-system is protected/);
    assert.equal(p.pageIfTargetNotFound, true);
  });

  test('elsewhere the plan is the playbook as written; a playbook can turn memory back on in protected namespaces', () => {
    const p = plan('Everything here', 'shop');
    assert.deepEqual(p.containment[0]?.approval, { required: false, timeoutSeconds: 900, onTimeout: 'reject' });
    assert.equal(p.captures.length, 4);
    assert.equal(p.preserve?.params.recordOnly, undefined);
    assert.equal(p.notes, undefined);
    assert.deepEqual(
      plan('Memory please', 'holdfast').captures.map((c) => c.name),
      ['memory'],
    );
  });

  test('the storm plan acts on nothing and pages tier 1 once', () => {
    const p = stormPlan(plan('Everything here', 'shop'));
    assert.equal(p.preserve, null);
    assert.deepEqual(p.captures, []);
    assert.deepEqual(p.containment, []);
    assert.deepEqual(p.escalation, { tiers: [{ notifiers: ['oncall'], ackTimeoutSeconds: 900 }], repeatLastTier: 0 });
    assert.match(p.notes?.join(' ') ?? '', /storm/);
  });
});

describe('a worker serves one cluster (activities/steps)', () => {
  test('a step for a target in another cluster is refused before it touches anything', async () => {
    const cluster = new FakeCluster();
    const activities = createStepActivities({ cluster, evidence: new MemoryEvidenceStore(), clusterName: 'prod' });
    await assert.rejects(
      new MockActivityEnvironment().run(activities['step.logs']!, {
        incidentId: 'inc-1',
        target: { cluster: 'staging', namespace: 'shop', pod: 'web-1' },
        dryRun: false,
        params: {},
      }),
      (err: Error & { type?: string }) =>
        err.type === 'InvalidInput' && /serves cluster prod; the incident is about cluster staging/.test(err.message),
    );
    assert.equal(cluster.calls.length, 0);
  });
});
