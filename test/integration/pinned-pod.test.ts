/**
 * The workflow hands the pod preserve pinned to every later step, on the real Temporal dev server: a pod
 * recreated under the same name right after preserve is refused by the captures and by containment
 * (non-retryable PodReplaced, one attempt each), and the incident still seals and escalates.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ActionOutcome, ChangeTarget, MutationOptions } from '../../common/ports';
import { FakeCluster } from '../fakes/cluster';
import { missingServers } from '../helpers/env';
import { sampleAlert, startHarness, type Harness } from '../helpers/incident-harness';

const PLAYBOOKS = `
notifiers:
  - { name: tier1, type: webhook }
playbooks:
  - name: pinned
    capture: [logs, network]
    contain: [isolate, cordon]
    escalation: { tiers: [{ notifiers: [tier1], ackTimeout: 60s }] }
`;

/** A StatefulSet that recreates the pod the moment preserve is done with it. */
class ReplacingCluster extends FakeCluster {
  override async change(name: string, target: ChangeTarget, opts: MutationOptions): Promise<ActionOutcome> {
    const outcome = await super.change(name, target, opts);
    if (name === 'preserve' && target.kind === 'pod') this.recreatePod(target.pod);
    return outcome;
  }
}

describe('pinned to the preserved pod, through the workflow', { skip: missingServers() }, () => {
  let h: Harness;
  let cluster: ReplacingCluster;
  before(async () => {
    cluster = new ReplacingCluster({ node: 'node-p' });
    h = await startHarness(PLAYBOOKS, { cluster });
  });
  after(async () => h.close());

  test('a pod recreated after preserve: captures and containment refuse it with the reason, nothing runs on it', async () => {
    const alert = sampleAlert();
    const handle = await h.open(alert);
    const status = await h.waitForStatus(handle, (s) => s.phase === 'escalating');
    const byName = new Map(status.steps.map((s) => [s.name, s]));
    assert.equal(byName.get('preserve')!.state, 'succeeded');
    for (const name of ['logs', 'network', 'isolate', 'cordon']) {
      const step = byName.get(name)!;
      assert.equal(step.state, 'failed', `${name}: ${step.state}`);
      assert.match(step.error ?? '', /^PodReplaced: /, name);
      assert.match(step.error ?? '', /nothing was done/, name);
    }
    assert.equal(byName.get('seal')!.state, 'succeeded');
    // preserve ran once; not one capture or change reached the new pod, and nothing was retried
    assert.deepEqual(
      cluster.calls.map((c) => c.op),
      ['inspect', 'preserve'],
    );
    await handle.terminate('test done');
  });
});
