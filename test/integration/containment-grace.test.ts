import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { resolveSignal, type IncidentStatus } from '../../workflows/definitions';
import { FakeCluster } from '../fakes/cluster';
import { missingServers } from '../helpers/env';
import { recordHistory, sampleAlert, startHarness, type Harness } from '../helpers/incident-harness';

// A capture held far beyond the playbook's grace (as an attacker stopping the collector's tar would) must not
// hold containment; the seal still waits for it. Real worker on the real Temporal dev server, fake cluster.
const GRACE_SECONDS = 2;
const STALLED_CAPTURE_MS = 12_000;

describe('containment grace', { skip: missingServers() }, () => {
  let h: Harness;

  before(async () => {
    h = await startHarness(
      `
playbooks:
  - name: grace
    match: { rules: ["Grace*"] }
    containAfter: ${GRACE_SECONDS}s
    capture: [filesystem, network]
    contain: [isolate]
  - name: quick
    match: { rules: ["Quick*"] }
    containAfter: 30s
    capture: [network]
    contain: [isolate]
`,
      { cluster: new FakeCluster({ delays: { 'capture.filesystem': STALLED_CAPTURE_MS } }) },
    );
  });
  after(async () => {
    await h?.close();
  });

  const callAt = (op: string, pod: string) => h.cluster.calls.find((c) => c.op === op && c.target.endsWith(pod))?.at;

  test('isolate runs after the grace while the held capture still runs; the seal waits for it', async (t) => {
    const alert = sampleAlert({ rule: 'Grace shell', severity: 'high' });
    const alertAt = Date.now();
    const handle = await h.open(alert);
    const pod = alert.target.pod!;

    const isolated = await h.waitForStatus(
      handle,
      (s) => s.steps.some((x) => x.name === 'isolate' && x.state === 'succeeded'),
      STALLED_CAPTURE_MS,
    );
    const isolatedAfter = Date.now() - alertAt;
    t.diagnostic(
      `isolated ${isolatedAfter} ms after the alert (grace ${GRACE_SECONDS} s, capture held ${STALLED_CAPTURE_MS} ms)`,
    );
    assert.ok(isolatedAfter < GRACE_SECONDS * 1000 + 5000, `isolated ${isolatedAfter} ms after the alert`);
    const filesystem = isolated.steps.find((x) => x.name === 'filesystem')!;
    assert.equal(filesystem.state, 'running', 'the held capture goes on after containment');
    assert.equal(isolated.steps.find((x) => x.name === 'network')!.state, 'succeeded');
    assert.equal(callAt('capture.filesystem', pod), undefined, 'the fake cluster has not finished the capture');
    assert.notEqual(isolated.phase, 'sealing');
    assert.ok(!isolated.steps.some((x) => x.kind === 'seal'), 'no seal before every capture ended');
    const note = `containment started after the ${GRACE_SECONDS} s grace while filesystem was still running`;
    assert.deepEqual(isolated.notes, [note]);
    assert.ok(
      filesystem.notes.some((n) => n.startsWith(note)),
      filesystem.notes.join('|'),
    );

    // The network capture (volatile state) ended before isolation; the filesystem capture only after it.
    const isolateAt = callAt('isolate', pod)!;
    assert.ok(callAt('capture.network', pod)! <= isolateAt);

    const sealed = await h.waitForStatus(handle, (s) => s.manifestKey !== undefined, STALLED_CAPTURE_MS + 20_000);
    const fsDone = sealed.steps.find((x) => x.name === 'filesystem')!;
    const seal = sealed.steps.find((x) => x.kind === 'seal')!;
    assert.equal(fsDone.state, 'succeeded');
    assert.ok(callAt('capture.filesystem', pod)! > isolateAt, 'the capture ended after isolation');
    assert.ok(seal.startedAt! >= fsDone.endedAt!, `seal ${seal.startedAt} before capture end ${fsDone.endedAt}`);
    const input = h.seals.find((s) => s.incidentId === sealed.incidentId)!;
    assert.ok(input.artifacts.some((a) => a.name.startsWith('filesystem') || a.key.includes('filesystem')));

    await handle.signal(resolveSignal, { by: 'tester', undoContainment: false });
    const final = (await handle.result()) as IncidentStatus;
    assert.equal(final.phase, 'resolved');
    assert.deepEqual(final.notes, [note]);
    await recordHistory(handle, 'incident-containment-grace');
  });

  test('captures within the grace: containment waits for them and nothing is noted', async () => {
    const alert = sampleAlert({ rule: 'Quick shell', severity: 'high' });
    const handle = await h.open(alert);
    const sealed = await h.waitForStatus(handle, (s) => s.manifestKey !== undefined);
    assert.equal(sealed.notes, undefined);
    const pod = alert.target.pod!;
    assert.ok(callAt('capture.network', pod)! <= callAt('isolate', pod)!);
    const network = sealed.steps.find((x) => x.name === 'network')!;
    const isolate = sealed.steps.find((x) => x.name === 'isolate')!;
    assert.ok(network.endedAt! <= isolate.startedAt!);
    await handle.signal(resolveSignal, { by: 'tester', undoContainment: false });
    assert.equal(((await handle.result()) as IncidentStatus).phase, 'resolved');
  });
});
