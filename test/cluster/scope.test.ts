/**
 * Scope on the real local cluster, with a real worker on the real Temporal dev server and the default
 * playbook (capture everything, isolate without approval): an alert about a kube-system pod changes nothing in
 * the cluster (a snapshot before and after: the pod's labels, annotations and owner, its Deployment and
 * ReplicaSet, every NetworkPolicy, the node), and the incident says why; an alert about a pod that does not
 * exist closes "target not found", unpaged and unsealed. The one trace evidence collection leaves on the
 * kube-system pod is its ephemeral collector container (ephemeral containers cannot be removed).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { IncidentStatus } from '../../workflows/definitions';
import { missingServers } from '../helpers/env';
import { sampleAlert, startHarness, type Harness } from '../helpers/incident-harness';
import { deploymentOf, deploymentReady, IMAGES, kubeClients, localCollectorCluster, waitFor } from '../helpers/kube';

const KUBECONFIG = process.env.HOLDFAST_TEST_KUBECONFIG;
const SKIP =
  missingServers() ??
  (KUBECONFIG ? false : 'HOLDFAST_TEST_KUBECONFIG not set: the local cluster needs root; run npm run cluster:up');
const NAME = `holdfast-scope-${crypto.randomBytes(3).toString('hex')}`;
// No playbook matches these alerts: the default playbook (the whole response, no approvals) is the one chosen.
const PLAYBOOKS = `
notifiers: [{ name: oncall, type: webhook }]
playbooks:
  - name: never-matches
    match: { rules: ["no alert has this rule"] }
`;

describe('scope on the real cluster: kube-system and missing pods', { skip: SKIP, timeout: 6 * 60_000 }, () => {
  let admin: ReturnType<typeof kubeClients>;
  let h: Harness;
  let pod: string;

  before(async () => {
    admin = kubeClients(KUBECONFIG!);
    const sleeper = { name: 'app', image: IMAGES.busybox, imagePullPolicy: 'Never', command: ['sleep', '3600'] };
    await admin.apps.createNamespacedDeployment({ namespace: 'kube-system', body: deploymentOf(NAME, sleeper, 1) });
    await waitFor('deployment ready', 120_000, () =>
      deploymentReady(admin.apps, 'kube-system', NAME, 1).then((ready) => ready || undefined),
    );
    const pods = await admin.core.listNamespacedPod({ namespace: 'kube-system', labelSelector: `app=${NAME}` });
    pod = pods.items[0]!.metadata!.name!;
    h = await startHarness(PLAYBOOKS, { liveCluster: localCollectorCluster(admin.kc), clusterName: 'local' });
  });

  after(async () => {
    await h?.close();
    await admin?.apps.deleteNamespacedDeployment({ name: NAME, namespace: 'kube-system' }).catch(() => undefined);
  });

  /** What a containment or preserve would change: the pod's metadata, its controllers, policies, the node. */
  async function snapshot() {
    const p = await admin.core.readNamespacedPod({ name: pod, namespace: 'kube-system' });
    const d = await admin.apps.readNamespacedDeployment({ name: NAME, namespace: 'kube-system' });
    const rs = await admin.apps.listNamespacedReplicaSet({ namespace: 'kube-system', labelSelector: `app=${NAME}` });
    const policies = await admin.net.listNetworkPolicyForAllNamespaces();
    const node = await admin.core.readNode({ name: p.spec!.nodeName! });
    return {
      pod: {
        uid: p.metadata?.uid,
        labels: p.metadata?.labels,
        annotations: p.metadata?.annotations ?? {},
        owners: p.metadata?.ownerReferences?.map((o) => `${o.kind}/${o.name}`),
        phase: p.status?.phase,
      },
      deployment: { replicas: d.spec?.replicas, generation: d.metadata?.generation },
      replicaSets: rs.items.map((r) => ({ name: r.metadata?.name, replicas: r.spec?.replicas })),
      podsOfTheApp: (
        await admin.core.listNamespacedPod({ namespace: 'kube-system', labelSelector: `app=${NAME}` })
      ).items.map((x) => x.metadata?.name),
      policies: policies.items.map((n) => `${n.metadata?.namespace}/${n.metadata?.name}`),
      node: {
        unschedulable: node.spec?.unschedulable ?? false,
        taints: node.spec?.taints ?? [],
        annotations: node.metadata?.annotations ?? {},
        labels: node.metadata?.labels ?? {},
      },
    };
  }

  test('a kube-system pod under the default playbook: evidence without memory, and no change to the cluster', async () => {
    const before = await snapshot();
    const alert = sampleAlert(
      { severity: 'critical' },
      { cluster: 'local', namespace: 'kube-system', pod, container: 'app' },
    );
    const handle = await h.open(alert);
    const status = await h.waitForStatus(
      handle,
      (s) =>
        s.steps.some((x) => x.name === 'isolate' && x.state === 'awaiting-approval') &&
        ['filesystem', 'logs', 'network'].every((n) =>
          s.steps.some((x) => x.name === n && x.state !== 'pending' && x.state !== 'running'),
        ),
      180_000,
    );
    const byName = new Map(status.steps.map((s) => [s.name, s]));
    assert.match(byName.get('plan')!.notes.join(' '), /namespace kube-system is protected/);
    assert.equal(byName.has('memory'), false);
    assert.equal(byName.get('preserve')?.state, 'succeeded', byName.get('preserve')?.error);
    for (const name of ['filesystem', 'logs', 'network'])
      assert.equal(byName.get(name)?.state, 'succeeded', `${name}: ${byName.get(name)?.error}`);
    const after = await snapshot();
    assert.deepEqual(after, before);
    const ephemeral = (await admin.core.readNamespacedPod({ name: pod, namespace: 'kube-system' })).spec
      ?.ephemeralContainers;
    console.log(`# kube-system pod unchanged; its ephemeral containers: ${ephemeral?.map((e) => e.name).join(', ')}`);
    await handle.terminate('test done');
  });

  test('a pod that does not exist: closed "target not found" after preserve, no page, no seal, nothing created', async () => {
    const before = await snapshot();
    const pages = [...h.notifiers.values()].reduce((n, r) => n + r.sent.length, 0);
    const seals = h.seals.length;
    const alert = sampleAlert({ severity: 'critical' }, { cluster: 'local', namespace: 'default', pod: 'no-such-pod' });
    const status: IncidentStatus = await (await h.open(alert)).result();
    assert.equal(status.outcome, 'target-not-found');
    assert.match(status.steps.find((s) => s.name === 'preserve')?.error ?? '', /TargetNotFound/);
    assert.equal(
      [...h.notifiers.values()].reduce((n, r) => n + r.sent.length, 0),
      pages,
    );
    assert.equal(h.seals.length, seals);
    assert.deepEqual(await snapshot(), before);
  });
});
