import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AlertIntake } from '../../api/intake';
import { temporalSink } from '../../api/temporal-sink';
import { resolveSignal, type IncidentStatus } from '../../workflows/definitions';
import { missingServers } from '../helpers/env';
import { sampleAlert, startHarness, type Harness } from '../helpers/incident-harness';

// Alertmanager re-sends a firing alert every repeat_interval (4 h by default) with the same fingerprint and
// startsAt: once a responder resolved its incident, those re-sends must not open a new incident, re-run
// capture and containment and page again. A new firing (new startsAt, so a new id) is a new incident.
describe('a resolve sticks against re-sends of the same alert instance', { skip: missingServers() }, () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(`
playbooks:
  - name: sticky
    match: { rules: ["Sticky*"] }
    capture: [logs]
`);
  });
  after(async () => {
    await h?.close();
  });

  const intake = () =>
    new AlertIntake(temporalSink(h.client, new Map([['test', h.taskQueue]])), {
      repeatWindowMs: 60_000,
      maxBatch: 20,
      maxInFlight: 4,
      maxKeys: 100,
      resolveSticksMs: 3600_000,
    });

  test('after a responder resolves, a re-send (same id) is answered with the resolved incident; a new firing opens one', async () => {
    const instance = sampleAlert({ id: 'am-8c1f3e2a9b0d4c57-1764339130000', rule: 'Sticky shell' });
    const first = await intake().accept(instance);
    const handle = h.client.workflow.getHandle(first.workflowId);
    await h.waitForStatus(handle, (s) => s.phase === 'escalating' || s.phase === 'closed' || !!s.manifestKey);
    await handle.signal(resolveSignal, { by: 'alice', note: 'fixed' });
    const resolved = (await handle.result()) as IncidentStatus;
    assert.equal(resolved.phase, 'resolved');

    // Four hours later, from an API that has restarted since (nothing in memory): the same instance again.
    const later = intake();
    const resent = await later.accept({ ...instance, receivedAt: new Date().toISOString() });
    assert.deepEqual(
      { incidentId: resent.incidentId, alreadyResolved: resent.alreadyResolved },
      { incidentId: first.incidentId, alreadyResolved: true },
    );
    const latest = await h.client.workflow.getHandle(first.workflowId).describe();
    assert.equal(latest.runId, first.incidentId.slice(4), 'no new incident was started');

    // The alert fires anew (Alertmanager: a new startsAt, so a new instance id): a new incident.
    const anew = await later.accept({ ...instance, id: 'am-8c1f3e2a9b0d4c57-1764353530000' });
    assert.notEqual(anew.incidentId, first.incidentId);
    assert.ok(!anew.alreadyResolved);
    const status = await h.waitForStatus(h.client.workflow.getHandle(anew.workflowId), (s) => s.alertCount === 1);
    assert.equal(status.incidentId, anew.incidentId);
    await h.client.workflow.getHandle(anew.workflowId).signal(resolveSignal, { by: 'alice' });
  });
});
