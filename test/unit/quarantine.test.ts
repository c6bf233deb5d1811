/**
 * The quarantine belongs to the pod (its UID), never weakens when another incident comes along, and every
 * step stays pinned to the pod the incident preserved: the containment units against an in-memory API
 * (FakeKubeApi), the steps against FakeCluster, and the workflow's pin in IncidentState.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import { cordonAction } from '../../adapters/kubernetes/actions/cordon';
import { deletePodAction } from '../../adapters/kubernetes/actions/delete-pod';
import { isolateAction } from '../../adapters/kubernetes/actions/isolate';
import { preserveAction } from '../../adapters/kubernetes/actions/preserve';
import { mapKubernetesError } from '../../adapters/kubernetes/errors';
import {
  CORDONED_BY_ANNOTATION,
  INCIDENT_ANNOTATION,
  legacyQuarantinePolicyName,
  parseIncidentList,
  QUARANTINE_LABEL,
  quarantinePolicyName,
  quarantineValue,
  RELIED_ON_BY_ANNOTATION,
} from '../../adapters/kubernetes/labels';
import type { ActionUnit, UnitRun } from '../../adapters/kubernetes/units';
import { findStep } from '../../activities/steps/registry';
import type { StepContext } from '../../activities/steps/types';
import { FailureType, isFailure, isNonRetryable, NON_RETRYABLE } from '../../common/failures';
import type { PodPin, PodRef } from '../../common/types';
import { IncidentState } from '../../workflows/incident-state';
import { FakeCluster } from '../fakes/cluster';
import { FakeKubeApi } from '../fakes/kube-api';
import { MemoryEvidenceStore } from '../fakes/evidence-store';

const NS = 'shop';
const POD: PodRef = { cluster: 'test', namespace: NS, pod: 'db-0', container: 'app' };
const target = { kind: 'pod' as const, pod: POD };
const run = (incidentId: string, pod?: PodPin, dryRun = false): UnitRun => ({
  incidentId,
  dryRun,
  ...(pod ? { pod } : {}),
});
const apply = (unit: ActionUnit, r: UnitRun, api: FakeKubeApi) => unit.apply(api.kube, target, {}, r);
const undo = (unit: ActionUnit, r: UnitRun, api: FakeKubeApi) => unit.undo!(api.kube, target, {}, r);

function policyOf(api: FakeKubeApi, uid: string): k8s.V1NetworkPolicy | undefined {
  return api.policies.get(`${NS}/${quarantinePolicyName(uid)}`);
}
const relying = (policy: k8s.V1NetworkPolicy | undefined) =>
  parseIncidentList(policy?.metadata?.annotations?.[RELIED_ON_BY_ANNOTATION]);
/** Whether the policy denies all to the pod as it is now. */
function selects(policy: k8s.V1NetworkPolicy | undefined, pod: k8s.V1Pod | undefined): boolean {
  const wanted = policy?.spec?.podSelector?.matchLabels ?? {};
  return (
    Object.keys(wanted).length > 0 &&
    Object.entries(wanted).every(([k, v]) => pod?.metadata?.labels?.[k] === v) &&
    (policy?.spec?.ingress ?? []).length === 0 &&
    (policy?.spec?.egress ?? []).length === 0
  );
}
const livePod = (api: FakeKubeApi) => api.pods.get(`${NS}/${POD.pod}`);

describe('quarantine tied to the pod UID', () => {
  test('label value and policy name come from the pod UID, not the incident', async () => {
    const api = new FakeKubeApi();
    const pod = api.addPod(NS, 'db-0', { labels: { app: 'db' } });
    const uid = pod.metadata!.uid!;
    const a = await apply(isolateAction, run('inc-a'), api);
    assert.equal(a.changed, true);
    assert.deepEqual(a.pod, { uid, node: 'node-a' });
    assert.equal(livePod(api)!.metadata!.labels![QUARANTINE_LABEL], quarantineValue(uid));
    const policy = policyOf(api, uid);
    assert.ok(policy, 'the policy is named from the UID');
    assert.equal(policy.metadata!.annotations![INCIDENT_ANNOTATION], 'inc-a');
    assert.deepEqual(relying(policy), ['inc-a']);
    assert.ok(selects(policy, livePod(api)));
    // another incident's value would be the same: nothing in either derives from the incident
    assert.equal(quarantineValue(uid), quarantineValue(uid));
    assert.notEqual(quarantineValue(uid), quarantineValue('uid-other'));
  });

  test('A closed without undo, then B about the same pod: B adopts, the pod stays quarantined, B undo leaves A alone', async () => {
    const api = new FakeKubeApi();
    const uid = api.addPod(NS, 'db-0', { labels: { app: 'db' } }).metadata!.uid!;
    const pinA = (await apply(preserveAction, run('inc-a'), api)).pod!;
    await apply(isolateAction, run('inc-a', pinA), api);
    // A is resolved without undo: its policy stays. B opens for the same pod.
    const preservedB = await apply(preserveAction, run('inc-b'), api);
    assert.equal(preservedB.changed, false, 'the pod already carried its quarantine label');
    assert.ok(
      preservedB.notes.some((n) => n.includes('inc-a')),
      preservedB.notes.join('\n'),
    );
    assert.equal((preservedB.record as { adoptedFrom?: string }).adoptedFrom, 'inc-a');
    const isolatedB = await apply(isolateAction, run('inc-b', preservedB.pod), api);
    assert.ok(
      isolatedB.notes.some((n) => /already quarantined by incident inc-a/.test(n)),
      isolatedB.notes.join('\n'),
    );
    assert.equal((isolatedB.record as { adoptedFrom?: string }).adoptedFrom, 'inc-a');
    assert.deepEqual(relying(policyOf(api, uid)), ['inc-a', 'inc-b']);
    assert.ok(selects(policyOf(api, uid), livePod(api)), 'the deny-all policy still selects the pod');
    assert.equal(api.policies.size, 1, 'one quarantine for one pod');

    const undoneB = await undo(isolateAction, run('inc-b', preservedB.pod), api);
    assert.equal(undoneB.changed, false);
    assert.match(undoneB.notes.join('\n'), /still relied on by inc-a/);
    assert.deepEqual(relying(policyOf(api, uid)), ['inc-a']);
    assert.ok(selects(policyOf(api, uid), livePod(api)), "A's quarantine is untouched");
    // undoing B again changes nothing (retries are safe)
    assert.match((await undo(isolateAction, run('inc-b', preservedB.pod), api)).notes.join('\n'), /not relied on/);
    assert.ok(policyOf(api, uid));
  });

  test('the policy is deleted only once no incident relies on it, whoever created it', async () => {
    const api = new FakeKubeApi();
    const uid = api.addPod(NS, 'db-0').metadata!.uid!;
    await apply(isolateAction, run('inc-a'), api);
    await apply(isolateAction, run('inc-b'), api);
    const undoneA = await undo(isolateAction, run('inc-a', { uid }), api);
    assert.equal(undoneA.changed, false);
    assert.deepEqual(relying(policyOf(api, uid)), ['inc-b'], 'B still relies on it');
    const undoneB = await undo(isolateAction, run('inc-b', { uid }), api);
    assert.equal(undoneB.changed, true);
    assert.equal(policyOf(api, uid), undefined);
  });

  test('undo finds the policy from the pin after the pod is gone', async () => {
    const api = new FakeKubeApi();
    const uid = api.addPod(NS, 'db-0').metadata!.uid!;
    await apply(isolateAction, run('inc-a'), api);
    await apply(deletePodAction, run('inc-a', { uid }), api);
    assert.equal(livePod(api), undefined);
    // a retry of the delete (its answer lost) finds the pod gone: done, not failed
    const again = await apply(deletePodAction, run('inc-a', { uid }), api);
    assert.equal(again.changed, false);
    assert.match(again.notes.join('\n'), /already gone/);
    const undone = await undo(isolateAction, run('inc-a', { uid }), api);
    assert.equal(undone.changed, true);
    assert.equal(api.policies.size, 0);
  });

  test('a policy named after the pod (before quarantines were per UID) is undone by the incident that created it only', async () => {
    const api = new FakeKubeApi();
    api.addPod(NS, 'db-0');
    const legacy = legacyQuarantinePolicyName('db-0');
    api.policies.set(`${NS}/${legacy}`, {
      metadata: {
        name: legacy,
        namespace: NS,
        resourceVersion: '1',
        annotations: { [INCIDENT_ANNOTATION]: 'inc-old' },
      },
      spec: { podSelector: { matchLabels: { [QUARANTINE_LABEL]: 'q-old' } }, policyTypes: ['Ingress', 'Egress'] },
    });
    const other = await undo(isolateAction, run('inc-new'), api);
    assert.equal(other.changed, false);
    assert.ok(api.policies.has(`${NS}/${legacy}`));
    const own = await undo(isolateAction, run('inc-old'), api);
    assert.equal(own.changed, true);
    assert.ok(!api.policies.has(`${NS}/${legacy}`));
  });

  test('isolate re-reads the live policy: a weakened policy or a removed label is restored, a 409 is never success', async () => {
    const api = new FakeKubeApi();
    const uid = api.addPod(NS, 'db-0').metadata!.uid!;
    const name = quarantinePolicyName(uid);
    // someone (or something) created the policy first, allowing all egress and selecting another value
    api.policies.set(`${NS}/${name}`, {
      metadata: { name, namespace: NS, resourceVersion: '7', annotations: { [INCIDENT_ANNOTATION]: 'inc-a' } },
      spec: {
        podSelector: { matchLabels: { [QUARANTINE_LABEL]: 'q-other' } },
        policyTypes: ['Ingress', 'Egress'],
        egress: [{}],
      },
    });
    const first = await apply(isolateAction, run('inc-b'), api);
    assert.equal(first.changed, true);
    assert.ok(
      first.notes.some((n) => /restored deny-all/.test(n)),
      first.notes.join('\n'),
    );
    assert.ok(selects(policyOf(api, uid), livePod(api)));
    assert.deepEqual(relying(policyOf(api, uid)), ['inc-a', 'inc-b']);

    // the label is taken off the pod: running isolate again puts it back
    api.pods.get(`${NS}/db-0`)!.metadata!.labels = { app: 'db' };
    const again = await apply(isolateAction, run('inc-b', { uid }), api);
    assert.equal(again.changed, true);
    assert.ok(selects(policyOf(api, uid), livePod(api)));

    // a retry with everything in place changes nothing and writes nothing
    const writes = api.writes.length;
    const retry = await apply(isolateAction, run('inc-b', { uid }), api);
    assert.equal(retry.changed, false);
    assert.equal(api.writes.length, writes);
  });

  test('a create that loses a race (409) reads the policy back and joins it', async () => {
    const api = new FakeKubeApi();
    const uid = api.addPod(NS, 'db-0').metadata!.uid!;
    const name = quarantinePolicyName(uid);
    api.beforeWrite = (write) => {
      if (write === `create networkpolicy ${NS}/${name}` && !api.policies.has(`${NS}/${name}`)) {
        api.policies.set(`${NS}/${name}`, {
          metadata: { name, namespace: NS, resourceVersion: '99', annotations: { [INCIDENT_ANNOTATION]: 'inc-a' } },
          spec: { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'] },
        });
      }
    };
    const outcome = await apply(isolateAction, run('inc-b'), api);
    assert.ok(selects(policyOf(api, uid), livePod(api)), 'the policy in place denies all to the pod');
    assert.deepEqual(policyOf(api, uid)!.spec!.policyTypes, ['Ingress', 'Egress']);
    assert.deepEqual(relying(policyOf(api, uid)), ['inc-a', 'inc-b']);
    assert.equal((outcome.record as { repaired: boolean }).repaired, true);
  });

  test('a dry run writes nothing', async () => {
    const api = new FakeKubeApi();
    api.addPod(NS, 'db-0');
    const outcome = await apply(isolateAction, run('inc-a', undefined, true), api);
    assert.equal(outcome.dryRun, true);
    assert.equal(api.policies.size, 0);
    assert.equal(livePod(api)!.metadata!.labels![QUARANTINE_LABEL], undefined);
  });
});

describe('pinned to the pod', () => {
  test('a pod recreated under the same name is refused by every pod action, and nothing is written to it', async () => {
    const api = new FakeKubeApi();
    api.addPod(NS, 'db-0');
    const pin = (await apply(preserveAction, run('inc-a'), api)).pod!;
    assert.equal((await apply(preserveAction, run('inc-a', pin), api)).pod!.uid, pin.uid, 'same pod: accepted');
    const fresh = api.recreatePod(NS, 'db-0');
    const writes = api.writes.length;
    for (const unit of [preserveAction, isolateAction, deletePodAction]) {
      await assert.rejects(apply(unit, run('inc-a', pin), api), (err: Error) => {
        assert.equal(err.name, FailureType.PodReplaced);
        assert.match(err.message, new RegExp(`uid ${fresh.metadata!.uid}`));
        assert.match(err.message, new RegExp(`uid ${pin.uid}`));
        assert.match(err.message, /nothing was done to the new pod/);
        return true;
      });
    }
    assert.equal(api.writes.length, writes, 'not one write reached the new pod');
    assert.equal(livePod(api)!.metadata!.labels![QUARANTINE_LABEL], undefined);
    assert.equal(api.policies.size, 0);
  });

  test('a pod replaced between the read and the write: the UID in the change makes the API refuse it', async () => {
    const api = new FakeKubeApi();
    api.addPod(NS, 'db-0');
    let replaced = false;
    api.beforeWrite = (write) => {
      if (!replaced && (write.startsWith('patch pod') || write.startsWith('delete pod'))) {
        replaced = true;
        api.recreatePod(NS, 'db-0');
      }
    };
    await assert.rejects(apply(isolateAction, run('inc-a'), api), (err: Error) => err.name === FailureType.PodReplaced);
    replaced = false;
    await assert.rejects(
      apply(preserveAction, run('inc-a'), api),
      (err: Error) => err.name === FailureType.PodReplaced,
    );
    replaced = false;
    const before = livePod(api)!.metadata!.uid;
    await assert.rejects(
      apply(deletePodAction, run('inc-a'), api),
      (err: Error) => err.name === FailureType.PodReplaced,
    );
    assert.notEqual(livePod(api)!.metadata!.uid, before, 'the new pod was not deleted');
  });

  test('the API server answers map to PodReplaced (patch: uid immutable; delete: UID precondition)', () => {
    const patch = mapKubernetesError(
      {
        code: 422,
        body: JSON.stringify({ message: 'Pod "x" is invalid: metadata.uid: Invalid value: "a": field is immutable' }),
      },
      'label pod',
    );
    assert.equal(patch.name, FailureType.PodReplaced);
    const del = mapKubernetesError(
      {
        code: 409,
        // as kube-apiserver v1.34 words it (checked on the local cluster)
        body: JSON.stringify({
          message:
            'Operation cannot be fulfilled on Pod "p": the UID in the precondition (a) does not match the UID in record (b)',
        }),
      },
      'delete pod',
    );
    assert.equal(del.name, FailureType.PodReplaced);
    assert.equal(mapKubernetesError({ code: 409, message: 'already exists' }, 'x').name, 'KubernetesError');
    assert.ok(NON_RETRYABLE.includes(FailureType.PodReplaced));
    assert.ok(isNonRetryable(FailureType.PodReplaced));
  });

  test('cordon records the node it cordoned; undo only touches a node this incident cordoned', async () => {
    const api = new FakeKubeApi();
    api.addPod(NS, 'db-0', { node: 'node-b' });
    const node = { kind: 'node' as const, node: 'node-b' };
    const cordoned = await cordonAction.apply(api.kube, node, {}, run('inc-a'));
    assert.deepEqual(cordoned.record, { node: 'node-b' });
    assert.equal(api.nodes.get('node-b')!.metadata!.annotations![CORDONED_BY_ANNOTATION], 'inc-a');
    assert.equal((await cordonAction.undo!(api.kube, node, {}, run('inc-b'))).changed, false);
    assert.equal((await cordonAction.undo!(api.kube, node, {}, run('inc-a'))).changed, true);
    assert.equal(api.nodes.get('node-b')!.spec!.unschedulable, false);
  });
});

describe('steps pinned through the incident', () => {
  const evidence = new MemoryEvidenceStore();
  const ctx = (cluster: FakeCluster, incidentId: string, over: Partial<StepContext> = {}): StepContext => ({
    incidentId,
    dryRun: false,
    params: {},
    progress: () => {},
    target: { cluster: 'test', namespace: NS, pod: 'db-0', container: 'app' },
    deps: { cluster, evidence },
    ...over,
  });

  test('preserve reports the pin; captures and containment refuse the pod once it is recreated, with the reason', async () => {
    const cluster = new FakeCluster({ node: 'node-b' });
    const preserved = await findStep('preserve')!.run(ctx(cluster, 'inc-p'));
    assert.deepEqual(preserved.pod, { uid: cluster.uidOf(POD), node: 'node-b' });
    const record = JSON.parse(
      evidence.objects.get('incidents/inc-p/preserve/preserve-actions.json')!.body.toString('utf8'),
    ) as { pod: PodPin };
    assert.deepEqual(record.pod, preserved.pod, 'the pin is part of the preserved record');

    const pinned = ctx(cluster, 'inc-p', { pod: preserved.pod });
    await findStep('logs')!.run(pinned);
    cluster.recreatePod(POD);
    const before = cluster.calls.length;
    for (const step of ['logs', 'filesystem', 'isolate', 'cordon', 'delete-pod', 'preserve']) {
      await assert.rejects(findStep(step)!.run(pinned), (err: Error) => {
        assert.ok(isFailure(err, FailureType.PodReplaced), `${step}: ${err.name}`);
        assert.match(err.message, /uid/);
        return true;
      });
    }
    assert.equal(cluster.calls.length, before, 'nothing ran against the new pod');
  });

  test("cordon acts on the pod's node, not the alert's, and its undo uses the recorded node once the pod is gone", async () => {
    const cluster = new FakeCluster({ node: 'node-real' });
    const c = ctx(cluster, 'inc-c', {
      target: { cluster: 'test', namespace: NS, pod: 'db-0', container: 'app', node: 'node-from-alert' },
    });
    const result = await findStep('cordon')!.run(c);
    assert.ok(cluster.calls.some((x) => x.op === 'cordon' && x.target === 'node-real'));
    assert.ok(!cluster.calls.some((x) => x.target === 'node-from-alert'));
    assert.match(result.notes.join('\n'), /the alert named node node-from-alert; the pod runs on node-real/);
    assert.equal(result.pod?.node, 'node-real');

    cluster.deletePod(POD);
    await findStep('cordon')!.undo!({ ...c, pod: result.pod });
    assert.ok(cluster.calls.some((x) => x.op === 'uncordon' && x.target === 'node-real'));
  });

  test('a host alert with no pod cordons the node it names', async () => {
    const cluster = new FakeCluster();
    await findStep('cordon')!.run(ctx(cluster, 'inc-h', { target: { cluster: 'test', node: 'host-1' } }));
    assert.ok(cluster.calls.some((x) => x.op === 'cordon' && x.target === 'host-1'));
  });

  test('the incident pins the first pod a step reports and hands it to every later step', () => {
    const state = new IncidentState(
      'inc-s',
      { key: 'k', target: { cluster: 'test', namespace: NS, pod: 'db-0' } },
      { now: () => '2026-01-01T00:00:00.000Z' },
    );
    assert.equal(state.pod, undefined);
    state.pin(undefined);
    state.pin({ uid: 'uid-1', node: 'n1' });
    state.pin({ uid: 'uid-2', node: 'n2' });
    assert.deepEqual(state.pod, { uid: 'uid-1', node: 'n1' });
  });
});
