/**
 * On the real local cluster (scripts/cluster/up.sh, kube-network-policies enforcing): the quarantine never
 * weakens when a second incident comes along for the same pod, and a StatefulSet pod recreated under the
 * same name after preserve is refused by captures and containment. Steps run as the worker runs them
 * (the step definitions, KubernetesCluster), with the pin handed on as the workflow hands it on.
 * Reads the admin kubeconfig from HOLDFAST_TEST_KUBECONFIG and skips without it.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import type { KubernetesCluster } from '../../adapters/kubernetes/cluster';
import {
  INCIDENT_ANNOTATION,
  parseIncidentList,
  QUARANTINE_LABEL,
  quarantinePolicyName,
  RELIED_ON_BY_ANNOTATION,
} from '../../adapters/kubernetes/labels';
import type { StepResult } from '../../activities/contract';
import { findStep } from '../../activities/steps/registry';
import type { StepContext } from '../../activities/steps/types';
import { FailureType, toActivityFailure } from '../../common/failures';
import type { PodPin } from '../../common/types';
import { MemoryEvidenceStore } from '../fakes/evidence-store';
import { execIn, IMAGES, kubeClients, localCollectorCluster, MERGE_PATCH, sleep, waitFor } from '../helpers/kube';

const KUBECONFIG = process.env.HOLDFAST_TEST_KUBECONFIG;
const SKIP = KUBECONFIG
  ? false
  : 'HOLDFAST_TEST_KUBECONFIG not set: the local cluster needs root; run npm run cluster:up';
const NS = `holdfast-quarantine-${crypto.randomBytes(3).toString('hex')}`;
const MARKER = 'holdfast-distroless-marker';

describe('quarantine and pinning on the local cluster', { skip: SKIP, timeout: 10 * 60_000 }, () => {
  let admin: ReturnType<typeof kubeClients>;
  let cluster: KubernetesCluster;
  let nodeName = '';
  const evidence = new MemoryEvidenceStore();
  const incident = (name: string) => `inc-${name}-${crypto.randomBytes(4).toString('hex')}`;

  function step(name: string, incidentId: string, pod: string, pin?: PodPin, undo = false): Promise<StepResult> {
    const definition = findStep(name)!;
    const ctx: StepContext = {
      incidentId,
      dryRun: false,
      params: {},
      progress: () => {},
      target: { cluster: 'local', namespace: NS, pod, container: 'app' },
      ...(pin ? { pod: pin } : {}),
      deps: { cluster, evidence },
    };
    return undo ? definition.undo!(ctx) : definition.run(ctx);
  }

  async function runningPod(name: string, notUid?: string): Promise<k8s.V1Pod> {
    return waitFor(
      `pod ${name} Running${notUid ? ' (recreated)' : ''}`,
      120_000,
      async () => {
        const p = await admin.core.readNamespacedPod({ name, namespace: NS }).catch(() => undefined);
        return p &&
          p.metadata?.uid !== notUid &&
          p.status?.phase === 'Running' &&
          p.status.podIP &&
          p.status.containerStatuses?.every((c) => c.ready)
          ? p
          : undefined;
      },
      500,
    );
  }

  /** A raw HTTP request from the pod to the server over nc: 0 when the server answered. */
  async function connect(from: string, ip: string): Promise<number> {
    const r = await execIn(
      admin.exec,
      NS,
      from,
      'app',
      ['sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc -w 3 ${ip} 8080`],
      20_000,
    );
    return r.code === 0 && r.stdout.includes(MARKER) ? 0 : r.code || 1;
  }

  /** The NetworkPolicies in the namespace that deny all to and from the pod as it is now. */
  async function denyAllSelecting(pod: string): Promise<k8s.V1NetworkPolicy[]> {
    const live = await admin.core.readNamespacedPod({ name: pod, namespace: NS });
    const labels = live.metadata?.labels ?? {};
    const policies = await admin.net.listNamespacedNetworkPolicy({ namespace: NS });
    return policies.items.filter((p) => {
      const wanted = p.spec?.podSelector?.matchLabels ?? {};
      return (
        Object.keys(wanted).length > 0 &&
        Object.entries(wanted).every(([k, v]) => labels[k] === v) &&
        (p.spec?.policyTypes ?? []).includes('Egress') &&
        (p.spec?.policyTypes ?? []).includes('Ingress') &&
        (p.spec?.egress ?? []).length === 0 &&
        (p.spec?.ingress ?? []).length === 0
      );
    });
  }

  before(async () => {
    admin = kubeClients(KUBECONFIG!);
    cluster = localCollectorCluster(admin.kc, 3600);
    nodeName = (await admin.core.listNode()).items[0]!.metadata!.name!;
    await admin.core.createNamespace({
      body: { metadata: { name: NS, labels: { 'holdfast.io/test': 'quarantine' } } },
    });
    await waitFor('default service account', 30_000, async () =>
      admin.core.readNamespacedServiceAccount({ name: 'default', namespace: NS }).then(() => true),
    );
    await admin.core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'server', labels: { role: 'server' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            { name: 'app', image: IMAGES.distroless, imagePullPolicy: 'Never', ports: [{ containerPort: 8080 }] },
          ],
        },
      },
    });
    await admin.core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'suspect', labels: { app: 'suspect' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'app', image: IMAGES.busybox, imagePullPolicy: 'Never', command: ['sleep', '100000'] }],
        },
      },
    });
    await admin.apps.createNamespacedStatefulSet({
      namespace: NS,
      body: {
        metadata: { name: 'db' },
        spec: {
          replicas: 1,
          serviceName: 'db',
          selector: { matchLabels: { app: 'db' } },
          template: {
            metadata: { labels: { app: 'db' } },
            spec: {
              terminationGracePeriodSeconds: 1,
              containers: [
                {
                  name: 'app',
                  image: IMAGES.busybox,
                  imagePullPolicy: 'Never',
                  command: ['sh', '-c', 'echo db-started $(hostname); exec sleep 100000'],
                },
              ],
            },
          },
        },
      },
    });
  });

  after(async () => {
    if (!admin) return;
    await admin.core
      .patchNode({ name: nodeName, body: { spec: { unschedulable: null } } }, MERGE_PATCH)
      .catch(() => undefined);
    await admin.core.deleteNamespace({ name: NS, gracePeriodSeconds: 0 }).catch(() => undefined);
    await waitFor(`namespace ${NS} deleted`, 90_000, async () =>
      admin.core.readNamespace({ name: NS }).then(
        () => false,
        (e: unknown) => (e as { code?: number }).code === 404,
      ),
    ).catch((e) => console.error(String(e)));
  });

  test(
    'A resolved without undo, then B for the same pod: still isolated; undo of B leaves A alone',
    { timeout: 5 * 60_000 },
    async () => {
      const server = await runningPod('server');
      const suspect = await runningPod('suspect');
      const ip = server.status!.podIP!;
      await waitFor('the suspect reaches the server', 45_000, async () => (await connect('suspect', ip)) === 0, 1000);

      // Incident A: preserve, isolate; then it is resolved without undo (nothing more runs).
      const a = incident('a');
      const pinA = (await step('preserve', a, 'suspect')).pod!;
      assert.equal(pinA.uid, suspect.metadata!.uid);
      await step('isolate', a, 'suspect', pinA);
      await waitFor('A blocks the suspect', 45_000, async () => (await connect('suspect', ip)) !== 0, 1000);

      // Incident B: the next alert about the same pod.
      const b = incident('b');
      const preservedB = await step('preserve', b, 'suspect');
      assert.deepEqual(preservedB.pod, pinA, 'B is about the same pod');
      assert.ok(
        preservedB.notes.some((n) => n.includes(a)),
        preservedB.notes.join('\n'),
      );
      const isolatedB = await step('isolate', b, 'suspect', preservedB.pod);
      assert.ok(
        isolatedB.notes.some((n) => n.includes(`already quarantined by incident ${a}`)),
        isolatedB.notes.join('\n'),
      );
      const policies = await denyAllSelecting('suspect');
      assert.equal(policies.length, 1, 'a deny-all policy still selects the pod');
      const policy = policies[0]!;
      assert.equal(policy.metadata!.name, quarantinePolicyName(pinA.uid));
      assert.equal(policy.metadata!.annotations![INCIDENT_ANNOTATION], a);
      assert.deepEqual(parseIncidentList(policy.metadata!.annotations![RELIED_ON_BY_ANNOTATION]), [a, b]);
      for (let i = 0; i < 3; i++) {
        assert.notEqual(await connect('suspect', ip), 0, 'a connection from the pod still fails');
        await sleep(1000);
      }

      // B resolved with undo: A's quarantine stays, and still holds.
      const undoneB = await step('isolate', b, 'suspect', preservedB.pod, true);
      assert.equal(undoneB.changed, false);
      assert.match(undoneB.notes.join('\n'), new RegExp(`still relied on by ${a}`));
      const after = await denyAllSelecting('suspect');
      assert.equal(after.length, 1, "A's policy still selects the pod");
      assert.deepEqual(parseIncidentList(after[0]!.metadata!.annotations![RELIED_ON_BY_ANNOTATION]), [a]);
      await sleep(3000);
      for (let i = 0; i < 3; i++) {
        assert.notEqual(await connect('suspect', ip), 0, 'still isolated after B undid');
        await sleep(1000);
      }

      // A's own undo, later: the last incident relying on it lets go, the policy goes, traffic flows again.
      const undoneA = await step('isolate', a, 'suspect', pinA, true);
      assert.equal(undoneA.changed, true, undoneA.notes.join('\n'));
      assert.equal((await denyAllSelecting('suspect')).length, 0);
      await waitFor('traffic flows again', 45_000, async () => (await connect('suspect', ip)) === 0, 1000);
    },
  );

  test(
    'a StatefulSet pod deleted and recreated under its name after preserve: captures and containment refuse it',
    { timeout: 5 * 60_000 },
    async () => {
      const first = await runningPod('db-0');
      const c = incident('c');
      const preserved = await step('preserve', c, 'db-0');
      const pin = preserved.pod!;
      assert.equal(pin.uid, first.metadata!.uid);
      assert.equal(pin.node, first.spec!.nodeName);

      await admin.core.deleteNamespacedPod({ name: 'db-0', namespace: NS, gracePeriodSeconds: 0 });
      const fresh = await runningPod('db-0', pin.uid);
      assert.notEqual(fresh.metadata!.uid, pin.uid);

      for (const name of ['network', 'logs', 'filesystem', 'isolate', 'cordon', 'scale-to-zero', 'delete-pod']) {
        const error = await step(name, c, 'db-0', pin).then(
          () => assert.fail(`${name} ran against the recreated pod`),
          (err: Error) => err,
        );
        assert.equal(error.name, FailureType.PodReplaced, `${name}: ${error.name}: ${error.message}`);
        assert.match(error.message, new RegExp(`uid ${fresh.metadata!.uid}`));
        assert.match(error.message, new RegExp(`this incident is about \\(uid ${pin.uid}\\)`));
        assert.match(error.message, /nothing was done to the new pod/);
        const failure = toActivityFailure(error) as { nonRetryable?: boolean; type?: string };
        assert.equal(failure.nonRetryable, true);
        assert.equal(failure.type, FailureType.PodReplaced);
      }

      // nothing reached the new pod: no collector, no quarantine, no policy for it, the node not cordoned
      const now = await admin.core.readNamespacedPod({ name: 'db-0', namespace: NS });
      assert.equal(now.metadata!.uid, fresh.metadata!.uid, 'the new pod was not deleted');
      assert.equal(now.spec?.ephemeralContainers?.length ?? 0, 0, 'no collector was added');
      assert.equal(now.metadata?.labels?.[QUARANTINE_LABEL], undefined);
      assert.equal(now.metadata?.annotations?.[INCIDENT_ANNOTATION], undefined);
      const policies = await admin.net.listNamespacedNetworkPolicy({ namespace: NS });
      assert.ok(!policies.items.some((p) => p.metadata!.name === quarantinePolicyName(fresh.metadata!.uid!)));
      const node = await admin.core.readNode({ name: nodeName });
      assert.notEqual(node.spec?.unschedulable, true, 'the node was not cordoned');
      const sts = await admin.apps.readNamespacedStatefulSet({ name: 'db', namespace: NS });
      assert.equal(sts.spec?.replicas, 1);
    },
  );

  test(
    "cordon uses the pod's spec.nodeName over the alert's node, and undo works once the pod is deleted",
    {
      timeout: 3 * 60_000,
    },
    async () => {
      const suspect = await runningPod('suspect');
      const d = incident('d');
      const ctx = (pin?: PodPin): StepContext => ({
        incidentId: d,
        dryRun: false,
        params: {},
        progress: () => {},
        target: { cluster: 'local', namespace: NS, pod: 'suspect', container: 'app', node: 'not-the-real-node' },
        ...(pin ? { pod: pin } : {}),
        deps: { cluster, evidence },
      });
      try {
        const cordoned = await findStep('cordon')!.run(ctx());
        assert.equal(cordoned.pod?.node, suspect.spec!.nodeName);
        assert.equal((await admin.core.readNode({ name: nodeName })).spec?.unschedulable, true);
        assert.match(cordoned.notes.join('\n'), /the alert named node not-the-real-node/);
        const deleted = await findStep('delete-pod')!.run(ctx(cordoned.pod));
        assert.equal(deleted.changed, true);
        await waitFor('suspect gone', 60_000, async () =>
          admin.core.readNamespacedPod({ name: 'suspect', namespace: NS }).then(
            () => false,
            (e: unknown) => (e as { code?: number }).code === 404,
          ),
        );
        const undone = await findStep('cordon')!.undo!(ctx(cordoned.pod));
        assert.equal(undone.changed, true, undone.notes.join('\n'));
        assert.notEqual((await admin.core.readNode({ name: nodeName })).spec?.unschedulable, true);
      } finally {
        await admin.core
          .patchNode({ name: nodeName, body: { spec: { unschedulable: null } } }, MERGE_PATCH)
          .catch(() => undefined);
      }
    },
  );
});
