import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Alert, AlertTarget, ArtifactRef, CollectorInfo, Severity } from '../../common/types';
import type { Actor, IncidentPhase, IncomingAlert } from '../../workflows/definitions';
import {
  IncidentState,
  MAX_DISTINCT_ALERTS,
  MAX_INSTANCE_IDS,
  MAX_KEPT_ALERT_BYTES,
  MAX_KEPT_BODY_BYTES,
} from '../../workflows/incident-state';

const COLLECTOR: CollectorInfo = { name: 'holdfast', version: '0.1.0' };
const target: AlertTarget = { cluster: 'test', namespace: 'shop', pod: 'web-1', container: 'app', node: 'node-1' };

let occurrence = 0;
/** A new occurrence (its own sender id) of the alert with this fingerprint, unless `overrides.id` says otherwise. */
function incoming(fingerprint: string, overrides: Partial<Alert> = {}): IncomingAlert {
  occurrence += 1;
  const alert: Alert = {
    id: `id-${fingerprint}-${occurrence}`,
    source: 'falco',
    rule: 'Terminal shell in container',
    severity: 'medium',
    summary: 'a shell was spawned',
    observedAt: '2026-01-01T00:00:00.000Z',
    receivedAt: '2026-01-01T00:00:01.000Z',
    target,
    labels: {},
    status: 'firing',
    rawSha256: '0'.repeat(64),
    ...overrides,
  };
  return { alert, fingerprint };
}

function artifact(name: string): ArtifactRef {
  return {
    name,
    key: `incidents/inc-1/${name}`,
    size: 3,
    sha256: 'a'.repeat(64),
    contentType: 'application/octet-stream',
    capturedAt: '2026-01-01T00:00:00.000Z',
    collector: COLLECTOR,
    method: 'kubectl logs',
    notes: ['full artifact detail'],
  };
}

/** A state with a ticking clock and every hook call recorded. */
function harness(t: AlertTarget = target) {
  let tick = 0;
  const calls = {
    severity: [] as Severity[],
    phase: [] as IncidentPhase[],
    acknowledged: [] as Actor[],
    cancelled: [] as Actor[],
  };
  const state = new IncidentState(
    'inc-1',
    { key: 'incident/test/shop/web-1', target: t },
    {
      now: () => new Date(Date.UTC(2026, 0, 1, 0, 0, tick++)).toISOString(),
      onSeverityRaised: (s) => calls.severity.push(s),
      onPhase: (p) => calls.phase.push(p),
      onAcknowledged: (a) => calls.acknowledged.push(a),
      onCancelled: (a) => calls.cancelled.push(a),
    },
  );
  return { state, calls };
}

describe('incident state', () => {
  test('starts planning at info severity with the clock’s time and the status keys in their order', () => {
    const { state } = harness();
    assert.deepEqual(Object.keys(state.status), [
      'incidentId',
      'key',
      'phase',
      'severity',
      'target',
      'dryRun',
      'startedAt',
      'steps',
      'alertCount',
    ]);
    assert.equal(state.status.phase, 'planning');
    assert.equal(state.status.severity, 'info');
    assert.equal(state.status.startedAt, '2026-01-01T00:00:00.000Z');
    assert.equal(state.status.target, target);
    assert.equal(state.hasAlerts, false);
    assert.throws(() => state.firstAlert, /no alert/);
  });

  test('identical alerts fold into one record with a count and the last time seen', () => {
    const { state } = harness();
    state.attach([incoming('a'), incoming('a', { receivedAt: '2026-01-01T00:05:00.000Z' }), incoming('b')]);
    assert.equal(state.status.alertCount, 3);
    assert.deepEqual(
      state.alerts.map((r) => [r.fingerprint, r.count, r.lastSeenAt]),
      [
        ['a', 2, '2026-01-01T00:05:00.000Z'],
        ['b', 1, '2026-01-01T00:00:01.000Z'],
      ],
    );
    assert.equal(state.firstAlert.fingerprint, 'a');
  });

  test('a re-send of an instance already seen (same sender id) is not an occurrence', () => {
    const { state } = harness();
    state.attach([incoming('a', { id: 'am-1' }), incoming('a', { id: 'am-1' }), incoming('a', { id: 'am-2' })]);
    state.attach([], [{ fingerprint: 'a', count: 0, resends: 4, lastSeenAt: '2026-01-01T04:00:00.000Z' }]);
    assert.equal(state.status.alertCount, 2);
    assert.equal(state.status.resends, 5);
    const [record] = state.alerts;
    assert.deepEqual([record!.count, record!.resends, record!.ids], [2, 5, ['am-1', 'am-2']]);
    // It remembers the last few instance ids only; an older one sent again counts as an occurrence.
    for (let i = 3; i <= MAX_INSTANCE_IDS + 3; i++) state.attach([incoming('a', { id: `am-${i}` })]);
    assert.equal(record!.ids!.length, MAX_INSTANCE_IDS);
    state.attach([incoming('a', { id: 'am-1' })]);
    assert.equal(state.status.resends, 5);
  });

  test('repeats the API coalesced raise counts; a repeat of an unknown alert still counts', () => {
    const { state } = harness();
    state.attach([incoming('a')]);
    state.attach(
      [],
      [
        { fingerprint: 'a', count: 4, lastSeenAt: '2026-01-01T01:00:00.000Z' },
        { fingerprint: 'zz', count: 2, lastSeenAt: '2026-01-01T01:00:00.000Z' },
      ],
    );
    assert.equal(state.status.alertCount, 7);
    assert.deepEqual(
      state.alerts.map((r) => [r.fingerprint, r.count, r.lastSeenAt]),
      [['a', 5, '2026-01-01T01:00:00.000Z']],
    );
  });

  test(`keeps distinct alerts up to ${MAX_KEPT_ALERT_BYTES} bytes; the rest only count, and the counts add up`, () => {
    const { state } = harness();
    const many = Array.from({ length: MAX_DISTINCT_ALERTS + 3 }, (_, i) => incoming(`f${i}`));
    state.attach(many);
    const kept = state.alerts.length;
    assert.ok(kept > 100 && kept < MAX_DISTINCT_ALERTS, `kept ${kept}`);
    const keptBytes = state.alerts.reduce(
      (sum, r) => sum + JSON.stringify(r.alert).length + (r.ids ?? []).reduce((n, id) => n + id.length + 3, 0),
      0,
    );
    assert.ok(keptBytes <= MAX_KEPT_ALERT_BYTES && keptBytes > MAX_KEPT_ALERT_BYTES - 1000, `kept ${keptBytes} bytes`);
    assert.equal(state.status.alertCount, MAX_DISTINCT_ALERTS + 3);
    assert.equal(state.status.alertsNotKept, MAX_DISTINCT_ALERTS + 3 - kept);
    assert.equal(state.alerts.at(-1)!.fingerprint, `f${kept - 1}`);
    // A kept alert still folds; one beyond the bound stays counted only, as do its repeats.
    state.attach([incoming('f0'), incoming(`f${kept}`)], [{ fingerprint: `f${kept + 1}`, count: 7, lastSeenAt: 'x' }]);
    assert.equal(state.alerts.length, kept);
    assert.equal(state.alerts[0]!.count, 2);
    assert.equal(state.status.alertCount, MAX_DISTINCT_ALERTS + 12);
    const keptCounts = state.alerts.reduce((sum, r) => sum + r.count, 0);
    assert.equal(keptCounts + state.status.alertsNotKept!, state.status.alertCount);
  });

  test('a few large alerts fill the byte bound; a later critical one still raises the severity', () => {
    const { state } = harness();
    const big = 'x'.repeat(40 * 1024);
    state.attach(Array.from({ length: 5 }, (_, i) => incoming(`big${i}`, { summary: big })));
    assert.equal(state.alerts.length, 3);
    assert.equal(state.status.alertsNotKept, 2);
    state.attach([incoming('late', { severity: 'critical', summary: big })]);
    assert.equal(state.alerts.length, 3);
    assert.equal(state.status.severity, 'critical');
    // Multi-byte text counts as bytes, not characters: 'é' is two bytes in UTF-8.
    const { state: other } = harness();
    other.attach(Array.from({ length: 3 }, (_, i) => incoming(`e${i}`, { summary: 'é'.repeat(30 * 1024) })));
    assert.equal(other.alerts.length, 2);
  });

  test('severity only rises, and the hook is called once per raise', () => {
    const { state, calls } = harness();
    state.attach([
      incoming('a', { severity: 'medium' }),
      incoming('b', { severity: 'medium' }),
      incoming('c', { severity: 'info' }),
    ]);
    state.attach([incoming('d', { severity: 'critical' }), incoming('e', { severity: 'high' })]);
    state.attach([], [{ fingerprint: 'a', count: 3, lastSeenAt: '2026-01-01T01:00:00.000Z' }]);
    assert.equal(state.status.severity, 'critical');
    assert.deepEqual(calls.severity, ['medium', 'critical']);
  });

  test('setPhase updates the status and calls the hook every time', () => {
    const { state, calls } = harness();
    state.setPhase('capturing');
    state.setPhase('acknowledged');
    state.setPhase('acknowledged');
    assert.equal(state.status.phase, 'acknowledged');
    assert.deepEqual(calls.phase, ['capturing', 'acknowledged', 'acknowledged']);
  });

  test('step lifecycle: tracked pending, started, succeeded with its notes and artifacts, ended', () => {
    const { state } = harness();
    const record = state.track('logs', 'capture');
    assert.deepEqual(state.status.steps, [
      { name: 'logs', kind: 'capture', state: 'pending', artifacts: [], notes: [] },
    ]);
    state.start(record);
    assert.equal(record.state, 'running');
    assert.equal(record.startedAt, '2026-01-01T00:00:01.000Z');
    const logs = artifact('logs.bin');
    state.succeed(record, { notes: ['3 containers'], artifacts: [logs] });
    state.end(record);
    assert.deepEqual(record, {
      name: 'logs',
      kind: 'capture',
      state: 'succeeded',
      artifacts: [{ name: logs.name, key: logs.key, size: logs.size, sha256: logs.sha256 }],
      notes: ['3 containers'],
      startedAt: '2026-01-01T00:00:01.000Z',
      endedAt: '2026-01-01T00:00:02.000Z',
    });
    // The sealed record gets the full artifact; the status only its summary.
    assert.deepEqual(state.artifacts, [logs]);
    assert.deepEqual(state.failures, []);
  });

  test('a failure is recorded on the step and, when named, listed for the sealed record', () => {
    const { state } = harness();
    const memory = state.track('memory', 'capture');
    state.start(memory);
    state.fail(memory, 'Unsupported: ptrace denied', 'memory');
    state.end(memory);
    const undo = state.track('isolate', 'undo');
    state.fail(undo, 'boom', 'undo.isolate');
    const seal = state.track('seal', 'seal');
    state.fail(seal, 'S3 down');
    assert.equal(memory.state, 'failed');
    assert.equal(memory.error, 'Unsupported: ptrace denied');
    assert.deepEqual(Object.keys(memory), [
      'name',
      'kind',
      'state',
      'artifacts',
      'notes',
      'startedAt',
      'error',
      'endedAt',
    ]);
    assert.deepEqual(state.failures, [
      { step: 'memory', error: 'Unsupported: ptrace denied' },
      { step: 'undo.isolate', error: 'boom' },
    ]);
  });

  test('skips: not applicable keeps the reason as error without a failure; a skip adds a note', () => {
    const { state } = harness();
    const a = state.track('network', 'capture');
    state.notApplicable(a, 'StepNotApplicable: no network namespace');
    const b = state.track('isolate', 'contain');
    state.skip(b, 'incident resolved before containment');
    assert.deepEqual([a.state, a.error, a.notes], ['skipped', 'StepNotApplicable: no network namespace', []]);
    assert.deepEqual([b.state, b.notes], ['skipped', ['incident resolved before containment']]);
    assert.deepEqual(state.failures, []);
  });

  test('pod steps apply only when the incident names a pod', () => {
    assert.equal(harness().state.applies({ needsPod: true }), true);
    const host = harness({ cluster: 'test', node: 'worker-7' }).state;
    assert.equal(host.hasPod, false);
    assert.equal(host.applies({ needsPod: true }), false);
    assert.equal(host.applies({ needsPod: false }), true);
    assert.equal(host.applies({}), true);
  });

  test('sealing records the manifest on the step and the status, with the exact versions sealed', () => {
    const { state } = harness();
    const record = state.track('seal', 'seal');
    state.sealed(record, {
      manifest: { key: 'incidents/inc-1/manifest.json', size: 10, sha256: 'b'.repeat(64), versionId: 'v1' },
      signature: { key: 'incidents/inc-1/manifest.sig', size: 64, sha256: 'c'.repeat(64), versionId: 'v2' },
      keyId: 'd'.repeat(64),
    });
    assert.equal(record.state, 'succeeded');
    assert.equal(state.status.manifestKey, 'incidents/inc-1/manifest.json');
    assert.deepEqual(state.status.sealed, {
      key: 'incidents/inc-1/manifest.json',
      versionId: 'v1',
      sha256: 'b'.repeat(64),
      size: 10,
      signatureKey: 'incidents/inc-1/manifest.sig',
      signatureVersionId: 'v2',
      signatureSha256: 'c'.repeat(64),
      keyId: 'd'.repeat(64),
    });
    assert.deepEqual(record.artifacts, [
      { name: 'manifest.json', key: 'incidents/inc-1/manifest.json', size: 10, sha256: 'b'.repeat(64) },
    ]);
    assert.deepEqual(state.artifacts, [], 'the manifest is not evidence it seals itself');
  });

  test('escalation outcome: one note per page, a failed page fails the step', () => {
    const { state } = harness();
    const ok = state.track('escalate', 'escalate');
    state.escalated(ok, { pages: [{ tier: 1, notifier: 'tier1', ok: true }], acknowledgedBy: 'alice' }, true);
    assert.deepEqual([ok.state, ok.notes], ['succeeded', ['tier 1 tier1: paged', 'acknowledged by alice']]);
    const bad = state.track('escalate', 'escalate');
    state.escalated(
      bad,
      {
        pages: [
          { tier: 1, notifier: 'a', ok: true },
          { tier: 2, notifier: 'b', ok: false, error: 'HTTP 500' },
        ],
      },
      true,
    );
    assert.deepEqual([bad.state, bad.notes], ['failed', ['tier 1 a: paged', 'tier 2 b: failed (HTTP 500)']]);
    const none = state.track('escalate', 'escalate');
    state.escalated(none, { pages: [] }, false);
    assert.deepEqual([none.state, none.notes], ['succeeded', ['no escalation tiers configured']]);
  });

  test('the first decision on a step wins; other steps are independent', () => {
    const { state } = harness();
    assert.equal(state.hasDecision('isolate'), false);
    state.decide(false, { step: 'isolate', by: 'carol', note: 'false positive' });
    state.decide(true, { step: 'isolate', by: 'bob' });
    state.decide(true, { step: 'cordon', by: 'bob' });
    assert.deepEqual(state.decisionFor('isolate'), {
      approved: false,
      by: 'carol',
      at: '2026-01-01T00:00:01.000Z',
      note: 'false positive',
    });
    assert.equal(state.decisionFor('cordon')!.approved, true);
    assert.equal(state.decisionFor('delete'), undefined);
  });

  test('a decision on a gated step: approval lets it run, rejection skips it, a timeout applies the gate default', () => {
    const { state } = harness();
    const isolate = state.track('isolate', 'contain');
    state.awaitApproval(isolate);
    assert.equal(isolate.state, 'awaiting-approval');
    state.decide(false, { step: 'isolate', by: 'carol' });
    assert.equal(state.applyDecision(isolate, state.decisionFor('isolate')!), false);
    assert.deepEqual([isolate.state, isolate.notes, isolate.decision?.by], ['skipped', ['rejected by carol'], 'carol']);

    const cordon = state.track('cordon', 'contain');
    const approve = state.timeoutDecision({ timeoutSeconds: 2, onTimeout: 'approve' });
    assert.deepEqual(approve, {
      approved: true,
      by: 'timeout',
      at: '2026-01-01T00:00:02.000Z',
      note: 'no decision within 2s',
    });
    assert.equal(state.applyDecision(cordon, approve), true);
    assert.deepEqual([cordon.state, cordon.notes, cordon.decision], ['pending', [], approve]);
    const reject = state.timeoutDecision({ timeoutSeconds: 30, onTimeout: 'reject' });
    assert.equal(reject.approved, false);
    assert.equal(reject.note, 'no decision within 30s');
  });

  test('acknowledgement: the first wins, sets acknowledgedBy and calls the hook once', () => {
    const { state, calls } = harness();
    state.acknowledge({ by: 'alice' });
    state.acknowledge({ by: 'bob' });
    assert.equal(state.acknowledged?.by, 'alice');
    assert.equal(state.status.acknowledgedBy, 'alice');
    assert.deepEqual(calls.acknowledged, [{ by: 'alice' }]);
  });

  test('resolution and cancellation: the first of each wins; cancel calls its hook once', () => {
    const { state, calls } = harness();
    state.resolve({ by: 'alice', undoContainment: false });
    state.resolve({ by: 'bob', undoContainment: true });
    state.cancel({ by: 'carol' });
    state.cancel({ by: 'dave' });
    assert.deepEqual(state.resolution, { by: 'alice', undoContainment: false });
    assert.deepEqual(state.cancellation, { by: 'carol' });
    assert.deepEqual(calls.cancelled, [{ by: 'carol' }]);
  });

  test('a resolution takes precedence over a cancellation when the incident closes', () => {
    const { state, calls } = harness();
    state.cancel({ by: 'carol' });
    state.resolve({ by: 'alice' });
    assert.equal(state.closedBy, 'alice');
    const final = state.finish();
    assert.equal(final, state.status);
    assert.deepEqual([final.phase, final.resolvedBy], ['resolved', 'alice']);
    assert.equal(final.endedAt, '2026-01-01T00:00:01.000Z');
    assert.deepEqual(calls.phase, ['resolved']);
  });

  test('a cancelled incident ends cancelled; one nobody ended closes with no resolver', () => {
    const cancelled = harness().state;
    cancelled.cancel({ by: 'carol' });
    assert.deepEqual([cancelled.finish().phase, cancelled.status.resolvedBy], ['cancelled', 'carol']);
    const closed = harness().state;
    assert.equal(closed.closedBy, undefined);
    assert.deepEqual([closed.finish().phase, closed.status.resolvedBy], ['closed', undefined]);
    assert.ok('resolvedBy' in closed.status, 'the key is set, as undefined');
  });

  test('containment is undone only when someone ended the incident; their choice beats the playbook', () => {
    const auto = harness().state;
    assert.equal(auto.shouldUndoContainment(true), false, 'auto-close never undoes');
    const resolved = harness().state;
    resolved.resolve({ by: 'alice' });
    assert.equal(resolved.shouldUndoContainment(true), true);
    assert.equal(resolved.shouldUndoContainment(false), false);
    const keep = harness().state;
    keep.resolve({ by: 'alice', undoContainment: false });
    assert.equal(keep.shouldUndoContainment(true), false);
    const undo = harness().state;
    undo.resolve({ by: 'alice', undoContainment: true });
    assert.equal(undo.shouldUndoContainment(false), true);
    const cancelled = harness().state;
    cancelled.cancel({ by: 'carol' });
    assert.equal(cancelled.shouldUndoContainment(true), true);
    assert.equal(cancelled.shouldUndoContainment(false), false);
  });
});

test('pages outside the escalation are recorded per notifier, and each notifier is listed once for closing', () => {
  const { state } = harness();
  assert.ok(!('notifications' in state.status), 'no field until a page is sent');
  const open = state.notifying('open', 'pd');
  const gate = state.notifying('approval', 'pd', 'isolate');
  const slack = state.notifying('approval', 'slack', 'isolate');
  assert.deepEqual(
    state.status.notifications?.map((n) => n.state),
    ['sending', 'sending', 'sending'],
  );
  state.notified(open);
  state.notified(gate);
  state.notified(slack, 'NotifierRejected: HTTP 404');
  assert.deepEqual(state.status.notifications, [
    { action: 'open', notifier: 'pd', at: '2026-01-01T00:00:01.000Z', state: 'sent' },
    { action: 'approval', notifier: 'pd', step: 'isolate', at: '2026-01-01T00:00:02.000Z', state: 'sent' },
    {
      action: 'approval',
      notifier: 'slack',
      step: 'isolate',
      at: '2026-01-01T00:00:03.000Z',
      state: 'failed',
      error: 'NotifierRejected: HTTP 404',
    },
  ]);
  assert.deepEqual(state.notifiedOutsideEscalation, ['pd', 'slack']);
});

test('containment before the captures ended: the incident and each capture still running say so', () => {
  const { state } = harness();
  const fs = state.track('filesystem', 'capture');
  const mem = state.track('memory', 'capture');
  const net = state.track('network', 'capture');
  for (const r of [fs, mem, net]) state.start(r);
  state.end(net);
  assert.ok(!('notes' in state.status), 'no field until containment starts early');
  const note = 'containment started after the 120 s grace while filesystem, memory were still running';
  state.containedEarly(note, [fs, mem]);
  assert.deepEqual(state.status.notes, [note]);
  assert.deepEqual(fs.notes, [`${note}; this capture went on after containment started`]);
  assert.deepEqual(mem.notes, fs.notes);
  assert.deepEqual(net.notes, []);
});

describe('alerts arriving while the incident closes', () => {
  test('new ones are set aside for the next incident (not counted here); re-sends of instances it holds still count here', () => {
    const { state } = harness();
    state.handsOverLateAlerts = true;
    const first = incoming('a');
    state.attach([first]);
    state.resolve({ by: 'alice' });
    state.attach([incoming('b'), { ...first }, incoming('c')]);
    assert.deepEqual(
      state.lateAlerts.map((l) => l.fingerprint),
      ['b', 'c'],
    );
    assert.equal(state.status.handedOver, 2);
    assert.equal(state.status.alertCount, 1);
    assert.equal(state.status.resends, 1, 'the re-send of an instance it holds is this incident’s');
  });

  test('before the patch (replayed incidents), or while open, alerts stay with the incident', () => {
    const { state } = harness();
    state.attach([incoming('a')]);
    state.resolve({ by: 'alice' });
    state.attach([incoming('b')]);
    assert.equal(state.lateAlerts.length, 0);
    assert.equal(state.status.alertCount, 2);
  });
});

describe('request bodies kept as received', () => {
  test('once per hash, within MAX_KEPT_BODY_BYTES; the rest counted; carried across continue-as-new', () => {
    const { state } = harness();
    const body = (n: number) => 'x'.repeat(n);
    const withBody = (sha: string, base64: string) => ({ ...incoming(sha, { rawSha256: sha }), rawBody: base64 });
    state.attach([withBody('a'.repeat(64), body(100)), withBody('a'.repeat(64), body(100))]);
    assert.equal(state.rawBodies.length, 1, 'the same body twice is kept once');
    state.attach([withBody('b'.repeat(64), body(MAX_KEPT_BODY_BYTES - 100))]);
    state.attach([withBody('c'.repeat(64), body(1))]);
    assert.deepEqual(
      state.rawBodies.map((b) => b.sha256[0]),
      ['a', 'b'],
    );
    assert.equal(state.bodiesNotKept, 1);
    assert.equal(state.status.alertCount, 4, 'bodies never change how alerts count');
    const restored = IncidentState.restore(JSON.parse(JSON.stringify(state.snapshot())), { now: () => '' });
    assert.deepEqual(restored.rawBodies, state.rawBodies);
    assert.equal(restored.bodiesNotKept, 1);
  });
});

describe('continue-as-new: snapshot and restore', () => {
  test('a restored state is the same incident: status, alerts and their byte bound, evidence, decisions, pin, ack', () => {
    const { state } = harness();
    state.attach([incoming('a'), incoming('a'), incoming('b', { severity: 'high' })]);
    state.pin({ uid: 'uid-1', node: 'node-1' });
    const step = state.track('logs', 'capture');
    state.succeed(step, { notes: ['n'], artifacts: [artifact('logs.txt')] });
    state.fail(state.track('memory', 'capture'), 'CollectorStalled: gdb', 'memory');
    state.contained.push({ name: 'isolate' } as never);
    state.decide(true, { step: 'isolate', by: 'alice' });
    state.acknowledge({ by: 'bob' });
    state.escalationStarted('incident/x/escalation/run-1');
    state.escalationReported({ incidentId: 'inc-1', pages: [{ tier: 1, notifier: 'pd', ok: true }] });
    // Through JSON, as Temporal carries it.
    const snapshot = JSON.parse(JSON.stringify(state.snapshot())) as ReturnType<IncidentState['snapshot']>;
    const calls: string[] = [];
    const restored = IncidentState.restore(snapshot, {
      now: () => '2026-02-01T00:00:00.000Z',
      onAcknowledged: () => calls.push('ack'),
      onSeverityRaised: (s) => calls.push(s),
    });
    assert.deepEqual(restored.status, state.status);
    assert.deepEqual(restored.alerts, state.alerts);
    assert.deepEqual(restored.artifacts, state.artifacts);
    assert.deepEqual(restored.failures, state.failures);
    assert.deepEqual(restored.pod, { uid: 'uid-1', node: 'node-1' });
    assert.equal(restored.decisionFor('isolate')?.by, 'alice');
    assert.equal(restored.acknowledged?.by, 'bob');
    assert.deepEqual(restored.escalation, { workflowId: 'incident/x/escalation/run-1', paged: ['pd'], ended: false });
    assert.equal(restored.contained.length, 1);
    // What already happened calls no hook again; a second ack is ignored, a new repeat still counts.
    restored.acknowledge({ by: 'carol' });
    restored.attach([], [{ fingerprint: 'a', count: 3, lastSeenAt: 'later' }]);
    assert.deepEqual(calls, []);
    assert.equal(restored.status.alertCount, 6);
    assert.equal(restored.alerts[0]!.count, 5);
  });

  test('the byte bound carries over: a restored full state keeps no more alerts', () => {
    const { state } = harness();
    const big = 'x'.repeat(40 * 1024);
    state.attach(Array.from({ length: 3 }, (_, i) => incoming(`big${i}`, { summary: big })));
    const restored = IncidentState.restore(JSON.parse(JSON.stringify(state.snapshot())), { now: () => 'now' });
    restored.attach([incoming('one-more', { summary: big })]);
    assert.equal(restored.alerts.length, 3);
    assert.equal(restored.status.alertsNotKept, 1);
  });
});

describe('escalation reports', () => {
  function escalating() {
    const h = harness();
    const record = h.state.track('escalate', 'escalate');
    h.state.start(record);
    h.state.escalationStarted('esc-1');
    return { ...h, record };
  }

  test('pages become notes as they go out; the end settles the step; reports after the end are ignored', () => {
    const { state, record } = escalating();
    state.escalationReported({ incidentId: 'inc-1', pages: [{ tier: 1, notifier: 'pd', ok: true }] });
    assert.deepEqual(record.notes, ['tier 1 pd: paged']);
    assert.equal(record.state, 'running');
    state.escalationReported({ incidentId: 'inc-1', pages: [{ tier: 2, notifier: 'pd', ok: true }] });
    state.escalationReported({ incidentId: 'inc-1', pages: [], ended: { acknowledgedBy: 'alice' } });
    assert.equal(record.state, 'succeeded');
    assert.deepEqual(record.notes, ['tier 1 pd: paged', 'tier 2 pd: paged', 'acknowledged by alice']);
    assert.deepEqual(state.escalation, { workflowId: 'esc-1', paged: ['pd'], ended: true });
    assert.ok(record.endedAt);
    state.escalationReported({ incidentId: 'inc-1', pages: [{ tier: 3, notifier: 'late', ok: true }] });
    assert.equal(record.notes.length, 3);
  });

  test('a failed page fails the step; a report for another incident on the same pod is ignored', () => {
    const { state, record } = escalating();
    state.escalationReported({ incidentId: 'inc-other', pages: [{ tier: 1, notifier: 'pd', ok: true }] });
    assert.deepEqual(record.notes, []);
    state.escalationReported({ incidentId: 'inc-1', pages: [{ tier: 1, notifier: 'hook', ok: false, error: '503' }] });
    state.escalationReported({ incidentId: 'inc-1', pages: [], ended: {} });
    assert.equal(record.state, 'failed');
    assert.deepEqual(state.escalation?.paged, ['hook']);
  });

  test('an escalation that never confirms its stop is noted and counts as ended', () => {
    const { state, record } = escalating();
    state.escalationUnconfirmed('the escalation did not confirm it stopped within 1 minute');
    assert.equal(state.escalation?.ended, true);
    assert.match(record.notes[0]!, /did not confirm/);
  });
});

test('containment checks: not effective leads the incident notes and every page; unverified is said; effective only on the step', () => {
  const { state } = harness();
  const early = 'containment started after the 120 s grace while memory was still running';
  state.containedEarly(early, []);
  const isolate = state.track('isolate', 'contain');
  state.verified(isolate, { verdict: 'effective', reason: 'new connections fail' });
  assert.deepEqual(isolate.verification, { verdict: 'effective', reason: 'new connections fail' });
  assert.deepEqual(state.status.notes, [early]);
  assert.deepEqual(state.containmentFindings, []);
  assert.equal(state.containmentNotEffective, false);

  const second = state.track('isolate', 'contain');
  state.verified(second, { verdict: 'unverified', reason: 'no peer to test' });
  const third = state.track('isolate', 'contain');
  state.verified(third, { verdict: 'not effective', reason: 'the pod uses hostNetwork' });
  assert.deepEqual(state.status.notes, [
    'CONTAINMENT NOT EFFECTIVE (isolate): the pod uses hostNetwork',
    early,
    'containment not verified (isolate): no peer to test',
  ]);
  assert.deepEqual(state.containmentFindings, [
    'CONTAINMENT NOT EFFECTIVE (isolate): the pod uses hostNetwork',
    'containment not verified (isolate): no peer to test',
  ]);
  assert.equal(state.containmentNotEffective, true);
});

test('a dry run verifies nothing: its unverified verdict stays on the step; a hostNetwork pod is still said', () => {
  const { state } = harness();
  state.planned({ playbook: 'dry', dryRun: true });
  const isolate = state.track('isolate', 'contain');
  state.verified(isolate, { verdict: 'unverified', reason: 'dry run: no policy was applied' });
  assert.equal(isolate.verification?.verdict, 'unverified');
  assert.equal(state.status.notes, undefined);
  assert.deepEqual(state.containmentFindings, []);
  const again = state.track('isolate', 'contain');
  state.verified(again, { verdict: 'not effective', reason: 'hostNetwork' });
  assert.deepEqual(state.containmentFindings, ['CONTAINMENT NOT EFFECTIVE (isolate): hostNetwork']);
});
