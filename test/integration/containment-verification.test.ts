import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { resolveSignal, type IncidentStatus } from '../../workflows/definitions';
import { FakeCluster } from '../fakes/cluster';
import { missingServers } from '../helpers/env';
import { recordHistory, sampleAlert, startHarness, type Harness } from '../helpers/incident-harness';

// A containment check that finds isolation not effective (a hostNetwork pod) is said loudly: first among the
// incident's notes, on the step, in a page to tier 1 at once (not after the captures and the seal), and in
// every later page. Real worker on the real Temporal dev server, fake cluster.
const HELD_CAPTURE_MS = 10_000;
const HOSTNET_POD = 'web-hostnet';
const REASON =
  "the pod uses its node's network namespace (hostNetwork): NetworkPolicy does not apply to it, so the quarantine policy cannot isolate it";

describe('verified containment', { skip: missingServers() }, () => {
  let h: Harness;

  before(async () => {
    h = await startHarness(
      `
notifiers:
  - { name: hook, type: webhook, url: "http://127.0.0.1:9/hook", secret: "hook-secret-0123456789" }
playbooks:
  - name: verify
    match: { rules: ["Verify*"] }
    pageOnOpen: false
    containAfter: 1s
    capture: [filesystem]
    contain: [isolate]
    escalation: { tiers: [{ notifiers: [hook], ackTimeout: 60s }] }
`,
      {
        cluster: new FakeCluster({
          delays: { 'capture.filesystem': HELD_CAPTURE_MS },
          verifications: { [`isolate shop/${HOSTNET_POD}`]: { verdict: 'not effective', reason: REASON } },
        }),
      },
    );
  });
  after(async () => {
    await h?.close();
  });

  const pages = (incidentId: string) => h.notifiers.get('hook')!.sent.filter((e) => e.incidentId === incidentId);

  test('not effective: an incident note, the step verdict, an immediate page with the fact; later pages repeat it', async (t) => {
    const alert = sampleAlert({ rule: 'Verify shell', severity: 'high' }, { pod: HOSTNET_POD });
    const handle = await h.open(alert);
    const contained = await h.waitForStatus(handle, (s) =>
      (s.notifications ?? []).some((n) => n.action === 'containment' && n.state === 'sent'),
    );
    const id = contained.incidentId;
    const isolate = contained.steps.find((s) => s.name === 'isolate')!;
    assert.deepEqual(isolate.verification, { verdict: 'not effective', reason: REASON });
    assert.ok(isolate.notes.includes(`CONTAINMENT NOT EFFECTIVE: ${REASON}`), isolate.notes.join('|'));
    assert.ok(
      isolate.artifacts.some((a) => a.name === 'containment-verification.json'),
      'the verdict is evidence of its own',
    );
    assert.equal(contained.notes?.[0], `CONTAINMENT NOT EFFECTIVE (isolate): ${REASON}`);
    assert.equal(contained.steps.find((s) => s.name === 'filesystem')!.state, 'running', 'the capture still runs');
    assert.ok(!contained.steps.some((s) => s.kind === 'seal'), 'paged before the seal');
    assert.deepEqual(
      contained.notifications?.map((n) => [n.action, n.notifier, n.step]),
      [['containment', 'hook', 'isolate']],
    );
    const [first] = pages(id);
    assert.equal(first!.action, 'containment');
    assert.equal(first!.tier, 1);
    assert.match(first!.title, /^\[high\] CONTAINMENT NOT EFFECTIVE: Verify shell/);
    assert.deepEqual(first!.details, [`CONTAINMENT NOT EFFECTIVE (isolate): ${REASON}`]);
    t.diagnostic(`paged ${first!.at - Date.parse(alert.receivedAt)} ms after the alert, before the held capture ended`);

    const escalated = await h.waitForStatus(
      handle,
      (s) => s.steps.some((x) => x.kind === 'escalate'),
      HELD_CAPTURE_MS + 20_000,
    );
    assert.ok(escalated.manifestKey);
    const seal = h.seals.find((s) => s.incidentId === id)!;
    assert.ok(seal.artifacts.some((a) => a.key.endsWith('/contain/containment-verification.json')));
    const trigger = await (async () => {
      for (let i = 0; i < 100; i++) {
        const found = pages(id).find((e) => e.action === 'trigger');
        if (found) return found;
        await new Promise((r) => setTimeout(r, 100));
      }
      return undefined;
    })();
    assert.ok(trigger, 'the escalation paged');
    assert.match(trigger.title, /CONTAINMENT NOT EFFECTIVE/);
    assert.deepEqual(trigger.details, [`CONTAINMENT NOT EFFECTIVE (isolate): ${REASON}`]);

    await handle.signal(resolveSignal, { by: 'tester', undoContainment: false });
    const final = (await handle.result()) as IncidentStatus;
    assert.equal(final.phase, 'resolved');
    assert.equal(final.notes?.[0], `CONTAINMENT NOT EFFECTIVE (isolate): ${REASON}`);
    await recordHistory(handle, 'incident-containment-not-effective');
  });

  test('effective: said on the step only; no extra page, no incident note', async () => {
    const alert = sampleAlert({ rule: 'Verify shell', severity: 'high' });
    const handle = await h.open(alert);
    const sealed = await h.waitForStatus(handle, (s) => s.manifestKey !== undefined, HELD_CAPTURE_MS + 20_000);
    const isolate = sealed.steps.find((s) => s.name === 'isolate')!;
    assert.equal(isolate.verification?.verdict, 'effective');
    assert.ok(!(sealed.notes ?? []).some((n) => /CONTAINMENT/.test(n)), JSON.stringify(sealed.notes));
    assert.ok(!pages(sealed.incidentId).some((e) => e.action === 'containment'));
    await handle.signal(resolveSignal, { by: 'tester', undoContainment: false });
    assert.equal(((await handle.result()) as IncidentStatus).phase, 'resolved');
  });
});
