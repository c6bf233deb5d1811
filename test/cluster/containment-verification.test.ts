/**
 * Verified containment on the real local cluster (scripts/cluster/up.sh, kube-network-policies enforcing): the
 * isolate step runs as the worker runs it (its step definition, KubernetesCluster with the local collector image)
 * and proves, from inside the pod's network namespace, whether the quarantine holds.
 *   - a pod holding an idle connection to a peer: the peer was reachable, a new connection to it now fails: effective
 *   - a pod whose connection keeps talking: this enforcer (like upstream kube-network-policies) lets established
 *     connections go on, so the verdict is not effective, and says why
 *   - a hostNetwork pod: NetworkPolicy cannot cover it: not effective, without any probe or collector
 *   - a pod that signals every nc it sees: the probes are interrupted: unverified
 * Reads the admin kubeconfig from HOLDFAST_TEST_KUBECONFIG and skips without it.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import type { KubernetesCluster } from '../../adapters/kubernetes/cluster';
import type { Probe } from '../../adapters/kubernetes/verify/isolation-verdict';
import type { StepResult } from '../../activities/contract';
import { findStep } from '../../activities/steps/registry';
import type { StepContext } from '../../activities/steps/types';
import { MemoryEvidenceStore } from '../fakes/evidence-store';
import { createReadyNamespace, execIn, IMAGES, kubeClients, localCollectorCluster, waitFor } from '../helpers/kube';

const KUBECONFIG = process.env.HOLDFAST_TEST_KUBECONFIG;
const SKIP = KUBECONFIG
  ? false
  : 'HOLDFAST_TEST_KUBECONFIG not set: the local cluster needs root; run npm run cluster:up';
const NS = `holdfast-verify-${crypto.randomBytes(3).toString('hex')}`;
const PORT = 9000;

type Record = {
  verdict: string;
  reason: string;
  probes: Probe[];
  established?: { carriedTraffic: unknown[]; quiet: number; watchedMs: number };
  pod: { hostNetwork: boolean };
  limits: string[];
};

describe('verified containment on the local cluster', { skip: SKIP, timeout: 10 * 60_000 }, () => {
  let admin: ReturnType<typeof kubeClients>;
  let cluster: KubernetesCluster;
  let peerIp = '';
  const evidence = new MemoryEvidenceStore();

  async function isolate(pod: string): Promise<{ result: StepResult; record: Record; seconds: number }> {
    const incidentId = `inc-verify-${pod}-${crypto.randomBytes(3).toString('hex')}`;
    const ctx: StepContext = {
      incidentId,
      dryRun: false,
      params: {},
      progress: () => {},
      target: { cluster: 'local', namespace: NS, pod, container: 'app' },
      deps: { cluster, evidence },
    };
    const started = Date.now();
    const result = await findStep('isolate')!.run(ctx);
    const seconds = (Date.now() - started) / 1000;
    const stored = evidence.objects.get(`incidents/${incidentId}/contain/containment-verification.json`);
    assert.ok(stored, `containment-verification.json stored for ${pod}`);
    return { result, record: JSON.parse(stored.body.toString('utf8')) as Record, seconds };
  }

  async function running(name: string): Promise<k8s.V1Pod> {
    return waitFor(
      `pod ${name} Running`,
      120_000,
      async () => {
        const p = await admin.core.readNamespacedPod({ name, namespace: NS }).catch(() => undefined);
        return p?.status?.phase === 'Running' && p.status.podIP && p.status.containerStatuses?.every((c) => c.ready)
          ? p
          : undefined;
      },
      500,
    );
  }

  function busybox(name: string, script: string, extra: Partial<k8s.V1PodSpec> = {}, labels = {}): k8s.V1Pod {
    return {
      metadata: { name, labels: { app: name, ...labels } },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [{ name: 'app', image: IMAGES.busybox, imagePullPolicy: 'Never', command: ['sh', '-c', script] }],
        ...extra,
      },
    };
  }

  /** A connection from the pod's own container to the peer (our control, outside Holdfast): 0 when it connects. */
  async function connectFrom(pod: string): Promise<number> {
    const r = await execIn(admin.exec, NS, pod, 'app', ['sh', '-c', `nc -w 3 ${peerIp} ${PORT} </dev/null`], 20_000);
    return r.code;
  }

  before(async () => {
    admin = kubeClients(KUBECONFIG!);
    cluster = localCollectorCluster(admin.kc, 3600);
    await createReadyNamespace(admin.core, { metadata: { name: NS, labels: { 'holdfast.io/test': 'verify' } } });
    // The peer: a persistent echo server (busybox nc forks a cat per connection), behind a Service.
    await admin.core.createNamespacedPod({
      namespace: NS,
      body: busybox('peer', `exec nc -ll -p ${PORT} -e /bin/cat`),
    });
    await admin.core.createNamespacedService({
      namespace: NS,
      body: {
        metadata: { name: 'peer' },
        spec: { selector: { app: 'peer' }, ports: [{ port: PORT, targetPort: PORT }] },
      },
    });
    peerIp = (await running('peer')).status!.podIP!;
    const pods = [
      // An idle connection to the peer, like a reverse shell waiting for commands.
      busybox('quiet', `sleep 100000 | nc ${peerIp} ${PORT} >/dev/null; exec sleep 100000`),
      // A connection that keeps talking (a line every half second, echoed back).
      busybox(
        'chatty',
        `while :; do echo beacon; sleep 0.5; done | nc ${peerIp} ${PORT} >/dev/null; exec sleep 100000`,
      ),
      // In the node's network namespace: NetworkPolicy does not apply.
      busybox('hostnet', 'exec sleep 100000', { hostNetwork: true }),
      // Root in the pod sends SIGALRM to every `nc -w` it sees (the collector's probes: they share its PID
      // namespace), which makes nc report "timed out" at once, as if the policy had dropped the connection.
      busybox(
        'hostile',
        `sleep 100000 | nc ${peerIp} ${PORT} >/dev/null & while :; do for d in /proc/[0-9]*; do ` +
          'case "$(tr "\\0" " " < "$d/cmdline" 2>/dev/null)" in *" nc -w "*) kill -ALRM "${d#/proc/}" 2>/dev/null;; esac; ' +
          'done; usleep 20000; done',
      ),
    ];
    for (const body of pods) await admin.core.createNamespacedPod({ namespace: NS, body });
    for (const body of pods) await running(body.metadata!.name!);
  });

  after(async () => {
    if (!admin) return;
    await admin.core.deleteNamespace({ name: NS, gracePeriodSeconds: 0 }).catch(() => undefined);
    await waitFor(`namespace ${NS} deleted`, 90_000, async () =>
      admin.core.readNamespace({ name: NS }).then(
        () => false,
        (e: unknown) => (e as { code?: number }).code === 404,
      ),
    ).catch((e) => console.error(String(e)));
  });

  test('an idle connection to a peer: reachable before, a new connection fails after: effective', async (t) => {
    await waitFor('quiet has its connection', 30_000, async () => (await connectFrom('quiet')) === 0, 1000);
    const { result, record, seconds } = await isolate('quiet');
    t.diagnostic(`isolate + check: ${seconds.toFixed(1)} s; ${record.reason}`);
    assert.equal(result.verification?.verdict, 'effective', `${record.reason}\n${JSON.stringify(record, null, 1)}`);
    const peer = record.probes.find((p) => p.address === peerIp && p.port === PORT)!;
    assert.equal(peer.source, 'socket', 'the peer came from the pod’s own socket table');
    assert.equal(peer.reachableBefore, true);
    assert.equal(peer.inCluster, true, 'it is also a service endpoint in the namespace');
    assert.equal(peer.reachableAfter, false);
    assert.equal(peer.outcome, 'timeout');
    assert.equal(record.established?.carriedTraffic.length, 0);
    assert.ok(record.established!.quiet >= 1, 'the idle connection is still open, and quiet');
    assert.ok(
      result.notes.some((n) => /still open and were quiet/.test(n)),
      result.notes.join('\n'),
    );
    // Our own control from the app container agrees: the peer is no longer reachable.
    assert.notEqual(await connectFrom('quiet'), 0);
  });

  test('a connection that keeps talking: the enforcer does not cut it: not effective, with the reason', async (t) => {
    const { result, record, seconds } = await isolate('chatty');
    t.diagnostic(`isolate + check: ${seconds.toFixed(1)} s; ${record.reason}`);
    assert.equal(result.verification?.verdict, 'not effective', JSON.stringify(record, null, 1));
    assert.match(record.reason, /still carried traffic after it .*does not cut established connections/);
    assert.ok(result.notes.some((n) => n.startsWith('CONTAINMENT NOT EFFECTIVE: ')));
    const peer = record.probes.find((p) => p.address === peerIp)!;
    assert.equal(peer.reachableAfter, false, 'new connections are blocked all the same');
  });

  test('a hostNetwork pod: not effective, without probing or adding a collector', async (t) => {
    const { result, record, seconds } = await isolate('hostnet');
    t.diagnostic(`isolate + check: ${seconds.toFixed(1)} s; ${record.reason}`);
    assert.equal(result.verification?.verdict, 'not effective');
    assert.match(record.reason, /hostNetwork.*NetworkPolicy does not apply/);
    assert.equal(record.pod.hostNetwork, true);
    assert.deepEqual(record.probes, []);
    const pod = await admin.core.readNamespacedPod({ name: 'hostnet', namespace: NS });
    assert.equal(pod.spec?.ephemeralContainers?.length ?? 0, 0, 'no collector was added');
  });

  test('a pod that signals the probes: interrupted, so unverified, never effective', async (t) => {
    const { result, record, seconds } = await isolate('hostile');
    t.diagnostic(`isolate + check: ${seconds.toFixed(1)} s; ${record.reason}`);
    assert.equal(result.verification?.verdict, 'unverified', JSON.stringify(record, null, 1));
    assert.match(record.reason, /interrupted, possibly by a process in the pod/);
    assert.ok(record.probes.some((p) => p.outcome === 'interrupted'));
  });
});
