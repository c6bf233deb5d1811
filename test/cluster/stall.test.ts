/**
 * A target that fights back: root in the suspect container shares the collector's PID namespace and sends
 * SIGSTOP to every tar and gdb it sees. The capture must fail as CollectorStalled with the tamper note within
 * the stall bound (not at the time bound), retire the stopped collector, and a retry gets one fresh collector
 * whose stall is final.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import type { KubernetesCluster } from '../../adapters/kubernetes/cluster';
import { collectorPrefix } from '../../adapters/kubernetes/collector/launcher';
import { RETIRED_STALLED } from '../../adapters/kubernetes/collector/scripts';
import { CollectorStalled } from '../../common/failures';
import type { CaptureStream } from '../../common/ports';
import {
  createReadyNamespace,
  IMAGES,
  kubeClients,
  localCollectorCluster,
  SIGSTOP_COLLECTOR_TOOLS,
  waitFor,
} from '../helpers/kube';

const KUBECONFIG = process.env.HOLDFAST_TEST_KUBECONFIG;
const SKIP = KUBECONFIG
  ? false
  : 'HOLDFAST_TEST_KUBECONFIG not set: the local cluster needs root; run npm run cluster:up';
const NS = `holdfast-stall-${crypto.randomBytes(3).toString('hex')}`;
const STALL_SECONDS = 5;
/** Retiring waits (bounded, 20 s) until the pod reports the collector ended. */
const RETIRE_MARGIN_MS = 25_000;

/** Reads the streams in order, as the step stores them; returns the first failure and the time to it. */
async function consume(streams: CaptureStream[]): Promise<{ err?: unknown; ms: number }> {
  const started = Date.now();
  // As the worker does (activities/steps/store.ts): a stream failing before its turn is heard, not uncaught.
  for (const s of streams) s.body.on('error', () => undefined);
  try {
    for (const s of streams) for await (const _ of s.body) void _;
    return { ms: Date.now() - started };
  } catch (err) {
    return { err, ms: Date.now() - started };
  } finally {
    for (const s of streams) s.body.destroy();
  }
}

describe('a target that stops the collector (SIGSTOP)', { skip: SKIP, timeout: 8 * 60_000 }, () => {
  let admin: ReturnType<typeof kubeClients>;
  let cluster: KubernetesCluster;
  const target = { cluster: 'local', namespace: NS, pod: 'stopper', container: 'app' };

  const collectorState = async (incidentId: string, n: number): Promise<k8s.V1ContainerState | undefined> => {
    const pod = await admin.core.readNamespacedPod({ name: 'stopper', namespace: NS });
    return pod.status?.ephemeralContainerStatuses?.find((s) => s.name === `${collectorPrefix(incidentId)}-${n}`)?.state;
  };

  before(async () => {
    admin = kubeClients(KUBECONFIG!);
    cluster = localCollectorCluster(admin.kc);
    await createReadyNamespace(admin.core, { metadata: { name: NS } });
    await admin.core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'stopper' },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'app',
              image: IMAGES.busybox,
              imagePullPolicy: 'Never',
              command: ['sh', '-c', SIGSTOP_COLLECTOR_TOOLS],
              resources: { limits: { cpu: '500m' } },
            },
          ],
        },
      },
    });
    // The control: a target that leaves the collector alone, with a process worth dumping.
    await admin.core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'quiet' },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'app',
              image: IMAGES.busybox,
              imagePullPolicy: 'Never',
              command: ['sh', '-c', 'dd if=/dev/zero of=/bulk bs=1M count=64 2>/dev/null; exec sleep 100000'],
            },
          ],
        },
      },
    });
    for (const name of ['stopper', 'quiet'])
      await waitFor(`pod ${name} running`, 90_000, async () => {
        const p = await admin.core.readNamespacedPod({ name, namespace: NS });
        return p.status?.containerStatuses?.every((c) => c.state?.running) || undefined;
      });
  });

  after(async () => {
    await admin?.core.deleteNamespace({ name: NS, gracePeriodSeconds: 0 }).catch(() => undefined);
  });

  test('control: with nobody stopping it, the same short stall bound lets tar and gcore finish', async (t) => {
    const quiet = { ...target, pod: 'quiet' };
    const opts = { incidentId: 'inc-quiet', params: { stallSeconds: STALL_SECONDS, maxProcesses: 4 } };
    const started = Date.now();
    const memory = await cluster.capture('memory', quiet, opts);
    const core = memory.find((s) => s.name.endsWith('.core'));
    assert.ok(core, memory.map((s) => s.name).join(','));
    const chunks: Buffer[] = [];
    for await (const c of core.body) chunks.push(c as Buffer);
    for (const s of memory) s.body.destroy();
    const bytes = Buffer.concat(chunks);
    assert.equal(bytes.subarray(0, 4).toString('latin1'), '\x7fELF', 'a core file');
    assert.ok(!core.notes.some((n) => /stalled/.test(n)), core.notes.join('|'));
    const fs = await cluster.capture('filesystem', quiet, {
      incidentId: 'inc-quiet',
      params: { stallSeconds: STALL_SECONDS },
    });
    const { err } = await consume(fs);
    assert.equal(err, undefined, String(err));
    t.diagnostic(`core of ${bytes.length} bytes and the rootfs tar in ${Date.now() - started} ms, no stall`);
  });

  test('filesystem: the stopped tar fails as CollectorStalled within the stall bound; the retry on a fresh collector is final', async (t) => {
    const incidentId = 'inc-stall-fs';
    const streams = await cluster.capture('filesystem', target, {
      incidentId,
      params: { stallSeconds: STALL_SECONDS },
    });
    const first = await consume(streams);
    t.diagnostic(`first attempt failed after ${first.ms} ms (stall bound ${STALL_SECONDS} s): ${String(first.err)}`);
    assert.ok(first.err instanceof CollectorStalled, `expected CollectorStalled, got ${String(first.err)}`);
    assert.match(
      first.err.message,
      new RegExp(
        `^tar: output stalled for ${STALL_SECONDS} s: possibly stopped by a process in the target \\(SIGSTOP\\)`,
      ),
    );
    assert.equal(first.err.final, false, 'the first stall is retried');
    assert.ok(first.ms >= STALL_SECONDS * 1000, `not before the bound: ${first.ms} ms`);
    assert.ok(
      first.ms < STALL_SECONDS * 1000 + RETIRE_MARGIN_MS,
      `within the bound and the retirement: ${first.ms} ms`,
    );
    const tarNotes = streams.find((s) => s.name === 'rootfs.tar')!.notes;
    assert.ok(
      tarNotes.includes(
        `tar: output stalled for ${STALL_SECONDS} s: possibly stopped by a process in the target (SIGSTOP)`,
      ),
      tarNotes.join('|'),
    );
    const retired = await collectorState(incidentId, 1);
    assert.ok(retired?.terminated, `the stalled collector ended: ${JSON.stringify(retired)}`);
    assert.equal(retired.terminated.message, RETIRED_STALLED);

    // What the step's retry does: a fresh collector, which knows it replaces a stalled one.
    const again = await cluster.capture('filesystem', target, { incidentId, params: { stallSeconds: STALL_SECONDS } });
    const fresh = await collectorState(incidentId, 2);
    assert.ok(fresh?.running, `a fresh collector runs: ${JSON.stringify(fresh)}`);
    const notes = again.find((s) => s.name === 'rootfs.tar')!.notes.join('|');
    assert.match(notes, /1 earlier collector\(s\) of this incident were retired after their output stalled/);
    const second = await consume(again);
    t.diagnostic(`retry failed after ${second.ms} ms: ${String(second.err)}`);
    assert.ok(second.err instanceof CollectorStalled, String(second.err));
    assert.equal(second.err.final, true, 'a stall on the fresh collector is not retried');
    assert.equal(second.err.nonRetryable, true);
    assert.ok(second.ms < STALL_SECONDS * 1000 + RETIRE_MARGIN_MS, `${second.ms} ms`);
  });

  test('memory: a stopped gdb (the staged core stops growing) stalls the same way', async (t) => {
    const incidentId = 'inc-stall-mem';
    const streams = await cluster.capture('memory', target, {
      incidentId,
      params: { stallSeconds: STALL_SECONDS, maxProcesses: 4 },
    });
    const result = await consume(streams);
    t.diagnostic(`memory capture failed after ${result.ms} ms: ${String(result.err)}`);
    assert.ok(result.err instanceof CollectorStalled, `expected CollectorStalled, got ${String(result.err)}`);
    assert.match(
      result.err.message,
      /^gcore of \d+: output stalled for 5 s: possibly stopped by a process in the target/,
    );
    assert.ok(result.ms < STALL_SECONDS * 1000 + RETIRE_MARGIN_MS + 30_000, `${result.ms} ms`);
  });
});
