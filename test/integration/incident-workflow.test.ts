import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Unsupported } from '../../common/failures';
import {
  acknowledgeSignal,
  approveSignal,
  cancelSignal,
  rejectSignal,
  resolveSignal,
  type IncidentStatus,
} from '../../workflows/definitions';
import { FakeCluster } from '../fakes/cluster';
import { missingServers } from '../helpers/env';
import { recordHistory, sampleAlert, startHarness, type Harness } from '../helpers/incident-harness';

const PLAYBOOKS = `
notifiers:
  - { name: tier1, type: webhook }
  - { name: tier2, type: webhook }
playbooks:
  - name: gated
    match: { rules: ["Gated*"] }
    capture: [logs]
    contain:
      - name: isolate
        approval: { required: true, timeout: 30s, onTimeout: reject }
      - name: cordon
        approval: { required: true, timeout: 2s, onTimeout: approve }
    escalation: { tiers: [{ notifiers: [tier1], ackTimeout: 60s }] }
    undoContainmentOnResolve: true
  - name: dry
    match: { rules: ["Dry*"] }
    dryRun: true
    capture: [logs]
    contain: [isolate, cordon]
    escalation: { tiers: [{ notifiers: [tier1], ackTimeout: 60s }] }
  - name: everything
    capture: [filesystem, memory, logs, network]
    contain: [isolate]
    escalation:
      tiers:
        - { notifiers: [tier1], ackTimeout: 2s }
        - { notifiers: [tier2], ackTimeout: 60s }
`;

const settled = (phase: IncidentStatus['phase']) => (s: IncidentStatus) => s.phase === phase;

describe(
  'incident workflow on the real Temporal dev server (fake cluster, evidence and notifiers)',
  { skip: missingServers() },
  () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(PLAYBOOKS, {
        cluster: new FakeCluster({
          failures: { 'capture.memory': new Unsupported('process memory not readable: ptrace denied') },
        }),
      });
    });
    after(async () => h.close());

    test('runs every step in order, records a failed capture without stopping the others, escalates to tier 2 when nobody acknowledges, then resolves', async () => {
      const alert = sampleAlert();
      const handle = await h.open(alert);
      const tier1 = h.notifiers.get('tier1')!;
      const tier2 = h.notifiers.get('tier2')!;

      const escalated = await h.waitForStatus(handle, (s) => s.phase === 'escalating' && tier2.sent.length > 0);
      assert.equal(escalated.playbook, 'everything');
      assert.deepEqual(
        escalated.steps.map((s) => `${s.kind}:${s.name}`),
        [
          'plan:plan',
          'preserve:preserve',
          'capture:filesystem',
          'capture:memory',
          'capture:logs',
          'capture:network',
          'contain:isolate',
          'seal:seal',
          'escalate:escalate',
        ],
      );
      const byName = Object.fromEntries(escalated.steps.map((s) => [s.name, s]));
      assert.equal(byName.memory!.state, 'failed');
      assert.match(byName.memory!.error!, /Unsupported: process memory not readable/);
      for (const name of ['preserve', 'filesystem', 'logs', 'network', 'isolate', 'seal'])
        assert.equal(byName[name]!.state, 'succeeded', name);

      // Failed capture: not retried (non-retryable), recorded in the sealed record, other artifacts present.
      assert.equal(h.cluster.count('capture.memory'), 0);
      const seal = h.seals.find((s) => s.incidentId === escalated.incidentId)!;
      assert.deepEqual(
        seal.failures.map((f) => f.step),
        ['memory'],
      );
      assert.deepEqual(seal.artifacts.map((a) => a.name).sort(), [
        'containment-verification.json',
        'filesystem.bin',
        'isolate.json',
        'logs.bin',
        'network.bin',
        'pod.json',
        'preserve-actions.json',
      ]);

      // Tier 1 paged, not acknowledged within 2 s, so tier 2 paged after it.
      assert.equal(tier1.sent.filter((e) => e.incidentId === escalated.incidentId && e.action === 'trigger').length, 1);
      const t1 = tier1.sent.find((e) => e.incidentId === escalated.incidentId)!;
      const t2 = tier2.sent.find((e) => e.incidentId === escalated.incidentId)!;
      assert.ok(t2.at - t1.at >= 1900, `tier 2 paged ${t2.at - t1.at} ms after tier 1`);
      assert.equal(t1.dedupKey, escalated.incidentId);

      await handle.signal(acknowledgeSignal, { by: 'alice' });
      await h.waitForStatus(handle, settled('acknowledged'));
      await handle.signal(resolveSignal, { by: 'alice', note: 'contained' });
      const final = (await handle.result()) as IncidentStatus;
      assert.equal(final.phase, 'resolved');
      assert.equal(final.acknowledgedBy, 'alice');
      assert.equal(final.resolvedBy, 'alice');
      // Both paged tiers are told the incident is resolved.
      assert.ok(tier1.sent.some((e) => e.incidentId === final.incidentId && e.action === 'resolve'));
      assert.ok(tier2.sent.some((e) => e.incidentId === final.incidentId && e.action === 'resolve'));
      await recordHistory(handle, 'incident-full-escalation');
    });

    test('approval gates: containment waits for approve, reject skips, a timeout applies the default; resolve undoes containment', async () => {
      const alert = sampleAlert({ rule: 'Gated rule' });
      const handle = await h.open(alert);
      const waiting = await h.waitForStatus(handle, (s) =>
        s.steps.some((x) => x.name === 'isolate' && x.state === 'awaiting-approval'),
      );
      assert.equal(
        h.cluster.calls.filter((c) => c.op === 'isolate' && c.target.endsWith(alert.target.pod!)).length,
        0,
        'nothing isolated before approval',
      );
      assert.equal(waiting.phase, 'containing');

      await handle.signal(approveSignal, { step: 'isolate', by: 'bob' });
      // cordon has no decision: after its 2 s timeout the default (approve) applies.
      const escalating = await h.waitForStatus(handle, settled('escalating'));
      const isolate = escalating.steps.find((s) => s.name === 'isolate')!;
      const cordon = escalating.steps.find((s) => s.name === 'cordon')!;
      assert.equal(isolate.state, 'succeeded');
      assert.equal(isolate.decision?.by, 'bob');
      assert.equal(cordon.state, 'succeeded');
      assert.equal(cordon.decision?.by, 'timeout');
      assert.equal(cordon.decision?.approved, true);

      await handle.signal(resolveSignal, { by: 'bob' });
      const final = (await handle.result()) as IncidentStatus;
      assert.deepEqual(
        final.steps.filter((s) => s.kind === 'undo').map((s) => `${s.name}:${s.state}`),
        ['cordon:succeeded', 'isolate:succeeded'],
      );
      assert.equal(
        h.cluster.calls.filter((c) => c.op === 'unisolate' && c.target.endsWith(alert.target.pod!)).length,
        1,
      );
      await recordHistory(handle, 'incident-approval-gates');

      const rejected = sampleAlert({ rule: 'Gated again' });
      const handle2 = await h.open(rejected);
      await h.waitForStatus(handle2, (s) =>
        s.steps.some((x) => x.name === 'isolate' && x.state === 'awaiting-approval'),
      );
      await handle2.signal(rejectSignal, { step: 'isolate', by: 'carol', note: 'false positive' });
      const after2 = await h.waitForStatus(handle2, settled('escalating'));
      const isolate2 = after2.steps.find((s) => s.name === 'isolate')!;
      assert.equal(isolate2.state, 'skipped');
      assert.equal(isolate2.decision?.approved, false);
      assert.equal(
        h.cluster.calls.filter((c) => c.op === 'isolate' && c.target.endsWith(rejected.target.pod!)).length,
        0,
      );
      await handle2.signal(cancelSignal, { by: 'carol' });
      const final2 = (await handle2.result()) as IncidentStatus;
      assert.equal(final2.phase, 'cancelled');
      await recordHistory(handle2, 'incident-rejected-cancelled');
    });

    test('dry run passes dryRun to every mutation and still captures evidence', async () => {
      const alert = sampleAlert({ rule: 'Dry run rule' });
      const handle = await h.open(alert);
      const status = await h.waitForStatus(handle, settled('escalating'));
      assert.equal(status.dryRun, true);
      const mine = h.cluster.calls.filter((c) => c.target.endsWith(alert.target.pod!) || c.target === 'node-1');
      for (const op of ['preserve', 'isolate']) {
        const call = mine.find((c) => c.op === op);
        assert.ok(call, `${op} called`);
        assert.equal(call.dryRun, true, `${op} is a dry run`);
      }
      assert.ok(status.steps.find((s) => s.name === 'logs')!.artifacts.length > 0, 'evidence still captured');
      await handle.signal(resolveSignal, { by: 'dave' });
      await handle.result();
    });

    test('a second alert for the same pod lands in the same incident', async () => {
      const alert = sampleAlert({ rule: 'Gated duplicate test' });
      const handle = await h.open(alert);
      const again = await h.open(sampleAlert({ rule: 'Write below etc', severity: 'critical' }, alert.target));
      assert.equal(again.workflowId, handle.workflowId);
      assert.equal(again.signaledRunId, handle.signaledRunId);
      const status = await h.waitForStatus(handle, (s) => s.alertCount === 2);
      assert.equal(status.severity, 'critical', 'severity rises with the worse alert');
      await handle.signal(cancelSignal, { by: 'test' });
      await handle.result();
    });

    test('a host alert with no pod still opens an incident keyed by node, skips pod steps and escalates', async () => {
      const alert = sampleAlert(
        { rule: 'Gated host rule' },
        { namespace: undefined, pod: undefined, container: undefined, node: 'worker-7' },
      );
      const handle = await h.open(alert);
      assert.equal(handle.workflowId, 'incident/test/node/worker-7');
      const gated = await h.waitForStatus(handle, (s) =>
        s.steps.some((x) => x.name === 'cordon' && x.state === 'awaiting-approval'),
      );
      assert.equal(
        gated.steps.find((s) => s.name === 'isolate')!.state,
        'skipped',
        'no approval is asked for a step that cannot apply',
      );
      await handle.signal(approveSignal, { step: 'cordon', by: 'erin' });
      const status = await h.waitForStatus(handle, (s) =>
        s.steps.some((x) => x.name === 'escalate' && x.state === 'succeeded'),
      );
      const states = Object.fromEntries(status.steps.map((s) => [`${s.kind}:${s.name}`, s.state]));
      assert.equal(states['preserve:preserve'], 'skipped');
      assert.equal(states['capture:logs'], 'skipped');
      assert.equal(states['contain:cordon'], 'succeeded');
      assert.match(status.steps.find((s) => s.name === 'logs')!.notes.join(), /no pod/);
      assert.ok(h.cluster.calls.some((c) => c.op === 'cordon' && c.target === 'worker-7'));
      assert.ok(h.notifiers.get('tier1')!.sent.some((e) => e.incidentId === status.incidentId));
      await handle.signal(cancelSignal, { by: 'erin' });
      await handle.result();
    });
  },
);
