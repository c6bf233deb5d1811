import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CollectorInterfered } from '../../common/failures';
import { resolveSignal, type IncidentStatus } from '../../workflows/definitions';
import { FakeCluster } from '../fakes/cluster';
import { missingServers } from '../helpers/env';
import { sampleAlert, startHarness, type Harness } from '../helpers/incident-harness';

// Tamper flags are first-class: a capture that succeeded with a finding (a forged section) and one that failed
// because its collector was killed both end up in the incident status, in the sealed record and in the page.
// Real worker on the real Temporal dev server, fake cluster.
const FORGED =
  'the target\'s hosts holds a line shaped like a collector section marker ("proc-net-tcp"): kept as that file\'s content, not obeyed';
const KILLED =
  'gcore of 1: killed by SIGKILL (exit 137): possibly by a process in the target; its output is incomplete; this collector already replaced a retired one: not retried';

describe('tamper flags', { skip: missingServers() }, () => {
  let h: Harness;

  before(async () => {
    h = await startHarness(
      `
notifiers:
  - { name: hook, type: webhook, url: "http://127.0.0.1:9/hook", secret: "hook-secret-0123456789" }
playbooks:
  - name: tamper
    match: { rules: ["Tamper*"] }
    pageOnOpen: false
    capture: [network, memory]
    escalation: { tiers: [{ notifiers: [hook], ackTimeout: 60s }] }
`,
      {
        cluster: new FakeCluster({
          tamper: { 'capture.network': [{ kind: 'section-forged', detail: FORGED }] },
          failures: { 'capture.memory': new CollectorInterfered(KILLED, true) },
        }),
      },
    );
  });
  after(async () => {
    await h?.close();
  });

  test('in the status, in the sealed record and in the page', async () => {
    const handle = await h.open(sampleAlert({ rule: 'Tamper shell', severity: 'high' }));
    const escalated = await h.waitForStatus(handle, (s) => s.steps.some((x) => x.kind === 'escalate'), 30_000);
    const id = escalated.incidentId;
    // The captures run side by side: the flags come in the order the captures ended.
    const byStep = <T extends { step: string }>(flags: T[] | undefined) =>
      [...(flags ?? [])].sort((a, b) => a.step.localeCompare(b.step));
    const expected = [
      { step: 'memory', kind: 'collector-killed', detail: KILLED },
      { step: 'network', kind: 'section-forged', detail: FORGED },
    ];
    assert.deepEqual(byStep(escalated.tamper), expected);
    assert.equal(escalated.steps.find((s) => s.name === 'network')!.state, 'succeeded');
    const memory = escalated.steps.find((s) => s.name === 'memory')!;
    assert.equal(memory.state, 'failed', 'a killed collector is never "succeeded"');
    assert.match(memory.error!, /^CollectorInterfered: gcore of 1: killed by SIGKILL/);
    assert.equal(h.cluster.count('capture.memory'), 0, 'final: not retried');

    const seal = h.seals.find((s) => s.incidentId === id)!;
    assert.deepEqual(byStep(seal.tamper), expected);

    let trigger;
    for (let i = 0; i < 100 && !trigger; i++) {
      trigger = h.notifiers.get('hook')!.sent.find((e) => e.incidentId === id && e.action === 'trigger');
      if (!trigger) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(trigger, 'the escalation paged');
    assert.deepEqual([...(trigger.details ?? [])].sort(), [
      `evidence collection was interfered with (memory, collector-killed): ${KILLED}`,
      `evidence collection was interfered with (network, section-forged): ${FORGED}`,
    ]);

    await handle.signal(resolveSignal, { by: 'tester', undoContainment: false });
    const final = (await handle.result()) as IncidentStatus;
    assert.deepEqual(byStep(final.tamper), expected);
  });
});
