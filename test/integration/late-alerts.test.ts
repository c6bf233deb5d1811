/**
 * An alert that arrives while an incident is closing (a responder resolved it; undoing its containment takes a
 * while) must not vanish into the resolved incident: it opens the next incident once that one has closed. On
 * the real Temporal dev server, with a fake cluster whose undo is slow.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { temporalIncidents } from '../../api/incidents';
import { resolveSignal, type IncidentStatus } from '../../workflows/definitions';
import { FakeCluster } from '../fakes/cluster';
import { missingServers } from '../helpers/env';
import { sampleAlert, startHarness, type Harness } from '../helpers/incident-harness';

const UNDO_MS = 4000;

describe('an alert arriving while its incident closes', { skip: missingServers() }, () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(
      `
playbooks:
  - name: late
    capture: [logs]
    contain: [isolate]
    undoContainmentOnResolve: true
`,
      { cluster: new FakeCluster({ delays: { unisolate: UNDO_MS } }) },
    );
  });
  after(async () => h?.close());

  test('opens the next incident once the closing one has closed; the closed one says it handed it over', async () => {
    const first = sampleAlert({ rule: 'Shell', summary: 'first' }, { pod: 'late-pod' });
    const handle = await h.open(first);
    await h.waitForStatus(handle, (s) => s.phase === 'escalating');
    await handle.signal(resolveSignal, { by: 'alice' });
    // The undo is running: the incident is closing.
    await h.waitForStatus(handle, (s) => s.steps.some((x) => x.kind === 'undo' && x.state === 'running'));
    const late = sampleAlert({ rule: 'Shell', summary: 'while closing' }, { pod: 'late-pod' });
    const delivered = await h.open(late);
    assert.equal(delivered.signaledRunId, handle.signaledRunId, 'signal-with-start reached the closing run');

    const closed = (await handle.result()) as IncidentStatus;
    assert.equal(closed.phase, 'resolved');
    assert.equal(closed.alertCount, 1, 'the late alert is not counted on the resolved incident');
    assert.equal(closed.handedOver, 1);
    assert.match(closed.notes?.join(' ') ?? '', /1 alert\(s\) arrived while the incident was closing/);

    // The next incident: same key, a new run, holding the late alert.
    let next: IncidentStatus | undefined;
    for (let i = 0; i < 100 && !next; i++) {
      const current = await h.client.workflow.getHandle(handle.workflowId).describe();
      if (current.runId !== handle.signaledRunId && current.status.name === 'RUNNING')
        next = await h.waitForStatus(h.client.workflow.getHandle(handle.workflowId), (s) => s.alertCount === 1);
      else await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(next, 'a next incident was opened');
    assert.notEqual(next.incidentId, closed.incidentId);
    const alerts = (await h.client.workflow.getHandle(handle.workflowId).query('alerts')) as Array<{
      alert: { summary: string };
    }>;
    assert.deepEqual(
      alerts.map((a) => a.alert.summary),
      ['while closing'],
    );
    // The closed incident, as GET /v1/incidents/{id} answers it, names the incident that holds the late alert.
    const incidents = temporalIncidents(h.client, h.client.options.namespace);
    const detail = await incidents.get(closed.incidentId);
    assert.equal(detail.running, false);
    assert.equal(detail.nextIncidentId, next.incidentId);
    assert.equal((await incidents.get(next.incidentId)).nextIncidentId, undefined, 'the open one has no next');
    await h.client.workflow.getHandle(handle.workflowId).terminate('test done');
  });
});
