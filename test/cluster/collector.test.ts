/**
 * The collector on the real cluster, in a pod whose containers share one PID namespace: the captures
 * must stay with the target container (attributed by the container ID in each process's cgroup), not
 * take the pause process or the sidecar for it.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { KubernetesCluster } from '../../adapters/kubernetes/cluster';
import type { CaptureStream } from '../../common/ports';
import { createReadyNamespace, IMAGES, kubeClients, localCollectorCluster, tarNames, waitFor } from '../helpers/kube';

const KUBECONFIG = process.env.HOLDFAST_TEST_KUBECONFIG;
const SKIP = KUBECONFIG
  ? false
  : 'HOLDFAST_TEST_KUBECONFIG not set: the local cluster needs root; run npm run cluster:up';
const NS = `holdfast-collector-${crypto.randomBytes(3).toString('hex')}`;

async function bytesOf(stream: CaptureStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('the collector in a pod that shares its PID namespace', { skip: SKIP, timeout: 5 * 60_000 }, () => {
  let admin: ReturnType<typeof kubeClients>;
  let cluster: KubernetesCluster;
  const target = { cluster: 'local', namespace: NS, pod: 'shared', container: 'app' };

  before(async () => {
    admin = kubeClients(KUBECONFIG!);
    cluster = localCollectorCluster(admin.kc);
    await createReadyNamespace(admin.core, { metadata: { name: NS } });
    await admin.core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'shared' },
        spec: {
          shareProcessNamespace: true,
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'app',
              image: IMAGES.busybox,
              imagePullPolicy: 'Never',
              command: ['sh', '-c', 'echo x > /tmp/app-file; exec sleep 100000'],
            },
            { name: 'side', image: IMAGES.distroless, imagePullPolicy: 'Never' },
          ],
        },
      },
    });
    await waitFor('pod running', 90_000, async () => {
      const p = await admin.core.readNamespacedPod({ name: 'shared', namespace: NS });
      return p.status?.containerStatuses?.every((c) => c.state?.running) || undefined;
    });
  });

  after(async () => {
    await admin?.core.deleteNamespace({ name: NS, gracePeriodSeconds: 0 }).catch(() => undefined);
  });

  test("memory: only the target container's processes; filesystem: its root, not pause's or the sidecar's", async () => {
    const memory = await cluster.capture('memory', target, { incidentId: 'inc-shared', params: {} });
    const list = JSON.parse((await bytesOf(memory.find((s) => s.name === 'processes.json')!)).toString()) as {
      processes: Array<{ comm: string; exe: string }>;
    };
    for (const s of memory) s.body.destroy();
    assert.deepEqual(
      list.processes.map((p) => p.comm),
      ['sleep'],
      JSON.stringify(list.processes),
    );

    const fs = await cluster.capture('filesystem', target, { incidentId: 'inc-shared', params: {} });
    const names = await tarNames(await bytesOf(fs.find((s) => s.name === 'rootfs.tar')!));
    for (const s of fs) s.body.destroy();
    assert.ok(names.includes('./tmp/app-file'));
    assert.ok(
      !names.includes('./app/tinyhttp') && !names.includes('./pause'),
      "neither the sidecar's nor the pause root",
    );
  });
});
