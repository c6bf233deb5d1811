/**
 * Smoke test of the real single-node cluster from scripts/cluster/up.sh (Kubernetes v1.34 built from source,
 * containerd 1.6, bridge CNI, kube-network-policies). Reads the admin kubeconfig from HOLDFAST_TEST_KUBECONFIG
 * and skips without it. Every wait is bounded; the test namespace is deleted at the end.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import https from 'node:https';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import {
  deploymentOf,
  deploymentReady,
  execIn,
  IMAGES,
  kubeClients,
  localCollectorImage,
  MERGE_PATCH,
  waitFor,
} from '../helpers/kube';

const KUBECONFIG = process.env.HOLDFAST_TEST_KUBECONFIG;
const SKIP = KUBECONFIG
  ? false
  : 'HOLDFAST_TEST_KUBECONFIG not set: the local cluster needs root; run npm run cluster:up';

const NS = `holdfast-smoke-${crypto.randomBytes(3).toString('hex')}`;
const WORKLOAD_MARKER = 'holdfast-workload-started';
const DISTROLESS_MARKER = 'holdfast-distroless-marker';

describe('local Kubernetes cluster (scripts/cluster)', { skip: SKIP }, () => {
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;
  let net: k8s.NetworkingV1Api;
  let exec: k8s.Exec;
  let logs: k8s.Log;
  let nodeName = '';

  const run = (pod: string, container: string, command: string[], timeoutMs = 30_000) =>
    execIn(exec, NS, pod, container, command, timeoutMs);

  async function readLog(pod: string, container: string, timeoutMs = 20_000): Promise<string> {
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c));
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`log of ${pod}/${container} timed out`)), timeoutMs);
      sink.on('end', () => {
        clearTimeout(timer);
        resolve();
      });
      sink.on('finish', () => {
        clearTimeout(timer);
        resolve();
      });
      sink.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    await logs.log(NS, pod, container, sink, { follow: false, timestamps: false });
    await done;
    return Buffer.concat(chunks).toString('utf8');
  }

  async function podsOf(selector: string) {
    return (await core.listNamespacedPod({ namespace: NS, labelSelector: selector })).items;
  }

  async function runningPod(name: string, timeoutMs = 90_000): Promise<k8s.V1Pod> {
    return waitFor(`pod ${name} Running`, timeoutMs, async () => {
      const p = await core.readNamespacedPod({ name, namespace: NS });
      return p.status?.phase === 'Running' && p.status.podIP && p.status.containerStatuses?.every((c) => c.ready)
        ? p
        : undefined;
    });
  }

  /** Adds a collector ephemeral container targeting `target`, waits for it to finish, returns its log. */
  async function collectorRun(
    pod: string,
    target: string,
    name: string,
    script: string,
  ): Promise<{ log: string; exitCode?: number }> {
    const current = await core.readNamespacedPod({ name: pod, namespace: NS });
    const ephemeral: k8s.V1EphemeralContainer = {
      name,
      image: localCollectorImage(),
      imagePullPolicy: 'Never',
      targetContainerName: target,
      command: ['sh', '-c', script],
      // reading another user's /proc/<pid>/root (the distroless app runs as 65532) needs CAP_SYS_PTRACE
      securityContext: { capabilities: { add: ['SYS_PTRACE'] } },
    };
    current.spec!.ephemeralContainers = [...(current.spec!.ephemeralContainers ?? []), ephemeral];
    await core.replaceNamespacedPodEphemeralcontainers({ name: pod, namespace: NS, body: current });
    const state = await waitFor(`ephemeral container ${name} to finish`, 90_000, async () => {
      const p = await core.readNamespacedPod({ name: pod, namespace: NS });
      return p.status?.ephemeralContainerStatuses?.find((s) => s.name === name)?.state?.terminated;
    });
    return { log: await readLog(pod, name), exitCode: state.exitCode };
  }

  before(async () => {
    ({ kc, core, apps, net, exec } = kubeClients(KUBECONFIG!));
    logs = new k8s.Log(kc);
    const nodes = await core.listNode();
    assert.equal(nodes.items.length, 1, 'single-node cluster');
    nodeName = nodes.items[0]!.metadata!.name!;
    await core.createNamespace({ body: { metadata: { name: NS, labels: { 'holdfast.io/test': 'cluster-smoke' } } } });
    await waitFor('default service account in the test namespace', 30_000, async () =>
      core.readNamespacedServiceAccount({ name: 'default', namespace: NS }).then(() => true),
    );
  });

  after(async () => {
    if (!core) return;
    await core
      .patchNode({ name: nodeName, body: { spec: { unschedulable: null } } }, MERGE_PATCH)
      .catch(() => undefined);
    await core.deleteNamespace({ name: NS, gracePeriodSeconds: 0 }).catch(() => undefined);
    await waitFor(`namespace ${NS} deleted`, 90_000, async () =>
      core.readNamespace({ name: NS }).then(
        () => false,
        (e: unknown) => (e as { code?: number }).code === 404,
      ),
    ).catch((e) => {
      console.error(String(e));
    });
  });

  test('the node is Ready and runs Kubernetes v1.34 on containerd', async () => {
    const node = await core.readNode({ name: nodeName });
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.status, 'True');
    assert.match(node.status?.nodeInfo?.kubeletVersion ?? '', /^v1\.34\./);
    assert.match(node.status?.nodeInfo?.containerRuntimeVersion ?? '', /^containerd:\/\//);
  });

  test('a 2-replica Deployment becomes Ready; exec and logs work', { timeout: 180_000 }, async () => {
    await apps.createNamespacedDeployment({
      namespace: NS,
      body: deploymentOf('workload', {
        name: 'app',
        image: IMAGES.busybox,
        command: [
          'sh',
          '-c',
          `echo ${WORKLOAD_MARKER} $(hostname); echo secret-in-workload > /tmp/workload-file; exec sleep 100000`,
        ],
      }),
    });
    await waitFor('deployment workload 2/2 ready', 150_000, () => deploymentReady(apps, NS, 'workload', 2), 1000);
    const pods = await podsOf('app=workload');
    assert.equal(pods.length, 2);
    const pod = pods[0]!.metadata!.name!;

    const r = await run(pod, 'app', ['sh', '-c', 'cat /etc/holdfast-image; id -u; cat /tmp/workload-file']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /holdfast busybox workload image/);
    assert.match(r.stdout, /secret-in-workload/);
    const failing = await run(pod, 'app', ['sh', '-c', 'exit 3']);
    assert.equal(failing.code, 3);

    const log = await readLog(pod, 'app');
    assert.match(log, new RegExp(`${WORKLOAD_MARKER} ${pod}`));
  });

  test(
    'distroless pod: no shell; a collector ephemeral container reads its filesystem via /proc/<pid>/root',
    { timeout: 240_000 },
    async () => {
      await core.createNamespacedPod({
        namespace: NS,
        body: {
          metadata: { name: 'distroless', labels: { role: 'server' } },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [
              { name: 'app', image: IMAGES.distroless, imagePullPolicy: 'Never', ports: [{ containerPort: 8080 }] },
            ],
          },
        },
      });
      await runningPod('distroless');
      const noShell = await run('distroless', 'app', ['sh', '-c', 'true']).catch((e: unknown) => ({
        code: -1,
        stdout: '',
        stderr: String(e),
      }));
      assert.notEqual(noShell.code, 0, 'the distroless image has no shell');

      // the target's main process is PID 1 in the shared PID namespace
      const d = await collectorRun(
        'distroless',
        'app',
        'collector-1',
        'echo uid=$(id -u); ls /proc/1/root/; cat /proc/1/root/app/message; tr "\\0" " " < /proc/1/cmdline; echo; sha256sum /proc/1/root/app/tinyhttp',
      );
      assert.equal(d.exitCode, 0, d.log);
      assert.match(d.log, new RegExp(DISTROLESS_MARKER));
      assert.match(d.log, /\/app\/tinyhttp/);
      assert.match(d.log, /^[0-9a-f]{64} {2}\/proc\/1\/root\/app\/tinyhttp$/m);

      // and against the busybox workload: its /tmp is reachable through the target's root
      const pod = (await podsOf('app=workload'))[0]!.metadata!.name!;
      const b = await collectorRun(
        pod,
        'app',
        'collector-1',
        'cat /proc/1/root/tmp/workload-file; cat /etc/holdfast-collector-manifest',
      );
      assert.equal(b.exitCode, 0, b.log);
      assert.match(b.log, /secret-in-workload/);
      assert.match(b.log, /holdfast\/collector:local/);
    },
  );

  test(
    'pod-to-pod TCP works, then a deny-all NetworkPolicy on the server pod blocks it',
    { timeout: 180_000 },
    async () => {
      const server = await runningPod('distroless');
      const ip = server.status!.podIP!;
      const client = (await podsOf('app=workload'))[0]!.metadata!.name!;
      // busybox-static's wget segfaults here (static glibc); a raw HTTP request over nc is the TCP client
      const fetch = async () => {
        const r = await run(
          client,
          'app',
          ['sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc -w 3 ${ip} 8080`],
          20_000,
        );
        return { ...r, code: r.code === 0 && r.stdout.includes(DISTROLESS_MARKER) ? 0 : r.code || 1 };
      };

      const ok = await waitFor(
        'client reaches server',
        30_000,
        async () => {
          const r = await fetch();
          return r.code === 0 ? r : undefined;
        },
        1000,
      );
      assert.match(ok.stdout, new RegExp(DISTROLESS_MARKER));

      await core.patchNamespacedPod(
        { name: 'distroless', namespace: NS, body: { metadata: { labels: { 'holdfast.io/quarantine': 'smoke' } } } },
        MERGE_PATCH,
      );
      await net.createNamespacedNetworkPolicy({
        namespace: NS,
        body: {
          metadata: { name: 'quarantine-smoke' },
          spec: {
            podSelector: { matchLabels: { 'holdfast.io/quarantine': 'smoke' } },
            policyTypes: ['Ingress', 'Egress'],
            ingress: [],
            egress: [],
          },
        },
      });
      const blocked = await waitFor(
        'the deny-all policy to block new connections',
        45_000,
        async () => {
          const r = await fetch();
          return r.code !== 0 ? r : undefined;
        },
        1000,
      );
      assert.notEqual(blocked.code, 0);
      // twice in a row, to be sure it is the policy and not a blip
      assert.notEqual((await fetch()).code, 0);

      await net.deleteNamespacedNetworkPolicy({ name: 'quarantine-smoke', namespace: NS });
      const again = await waitFor(
        'traffic to flow again after the policy is deleted',
        45_000,
        async () => {
          const r = await fetch();
          return r.code === 0 ? r : undefined;
        },
        1000,
      );
      assert.match(again.stdout, new RegExp(DISTROLESS_MARKER));
    },
  );

  test(
    'relabeling a pod out of its ReplicaSet: a replacement appears, the old pod keeps running',
    { timeout: 150_000 },
    async () => {
      const before = await podsOf('app=workload');
      assert.equal(before.length, 2);
      const victim = before[0]!;
      const name = victim.metadata!.name!;
      const uid = victim.metadata!.uid!;
      await core.patchNamespacedPod(
        { name, namespace: NS, body: { metadata: { labels: { app: null, 'holdfast.io/detached': 'smoke' } } } },
        MERGE_PATCH,
      );
      const replaced = await waitFor(
        'a replacement pod Ready',
        120_000,
        async () => {
          const now = await podsOf('app=workload');
          const fresh = now.filter(
            (p) => p.metadata!.uid !== uid && !before.some((b) => b.metadata!.uid === p.metadata!.uid),
          );
          const ready = now.filter((p) => p.status?.containerStatuses?.every((c) => c.ready));
          return now.length === 2 && fresh.length === 1 && ready.length === 2 ? fresh[0] : undefined;
        },
        1000,
      );
      assert.ok(replaced.metadata?.name);
      const old = await core.readNamespacedPod({ name, namespace: NS });
      assert.equal(old.metadata!.uid, uid);
      assert.equal(old.status?.phase, 'Running');
      assert.equal(
        old.metadata?.ownerReferences?.some((o) => o.controller) ?? false,
        false,
        'the ReplicaSet released the pod',
      );
      const r = await run(name, 'app', ['cat', '/tmp/workload-file']);
      assert.equal(r.code, 0);
    },
  );

  test('cordon makes the node unschedulable (uncordoned after)', { timeout: 90_000 }, async () => {
    try {
      await core.patchNode({ name: nodeName, body: { spec: { unschedulable: true } } }, MERGE_PATCH);
      const node = await core.readNode({ name: nodeName });
      assert.equal(node.spec?.unschedulable, true);
      await core.createNamespacedPod({
        namespace: NS,
        body: {
          metadata: { name: 'while-cordoned' },
          spec: {
            containers: [{ name: 'app', image: IMAGES.busybox, imagePullPolicy: 'Never', command: ['sleep', '1000'] }],
          },
        },
      });
      const cond = await waitFor('scheduler to report Unschedulable', 30_000, async () => {
        const p = await core.readNamespacedPod({ name: 'while-cordoned', namespace: NS });
        return p.status?.conditions?.find(
          (c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable',
        );
      });
      assert.match(cond.message ?? '', /unschedulable/i);
    } finally {
      await core.patchNode({ name: nodeName, body: { spec: { unschedulable: null } } }, MERGE_PATCH);
    }
    const node = await core.readNode({ name: nodeName });
    assert.notEqual(node.spec?.unschedulable, true);
    await waitFor('pod scheduled after uncordon', 60_000, async () => {
      const p = await core.readNamespacedPod({ name: 'while-cordoned', namespace: NS });
      return p.spec?.nodeName === nodeName;
    });
  });

  test('kubelet checkpoint API: the exact answer is recorded', { timeout: 90_000 }, async (t) => {
    const pod = (await podsOf('app=workload'))[0]!.metadata!.name!;
    const server = new URL(kc.getCurrentCluster()!.server);
    const path = `/api/v1/nodes/${nodeName}/proxy/checkpoint/${NS}/${pod}/app?timeout=30`;
    const opts: https.RequestOptions = {
      method: 'POST',
      hostname: server.hostname,
      port: server.port,
      path,
      timeout: 60_000,
    };
    await kc.applyToHTTPSOptions(opts);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.request(opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('timeout', () => req.destroy(new Error('checkpoint request timed out')));
      req.on('error', reject);
      req.end();
    });
    t.diagnostic(`POST ${path} -> HTTP ${answer.status}: ${answer.body.trim().slice(0, 500)}`);
    console.log(`checkpoint answer: HTTP ${answer.status}: ${answer.body.trim().slice(0, 500)}`);
    // RBAC/authn passed and the kubelet answered; success needs containerd 2.x + CRIU (containerd 1.6 here)
    assert.ok(![401, 403].includes(answer.status), `authorization failed: ${answer.status} ${answer.body}`);
    if (answer.status === 200) {
      assert.match(answer.body, /checkpoint-/);
    } else {
      assert.equal(answer.status, 500, answer.body);
      assert.match(answer.body, /checkpoint/i);
    }
  });
});
