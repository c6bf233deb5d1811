/**
 * Targets that bend the evidence, as root in the suspect container can (it shares the collector's PID
 * namespace and owns the files the collector reads):
 * - one holds a "C2" connection, reads every collector argv for a nonce and writes a forged, empty
 *   proc-net-tcp section into its /etc/hosts: the connection must still be in network-state.json, the
 *   nonce never in any argv, and the forgery flagged;
 * - one SIGKILLs every tar and gdb it sees: the filesystem and memory captures must fail (never end as
 *   complete with partial output) as CollectorInterfered, retried once on a fresh collector that carries
 *   the tamper finding, then final.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { KubernetesCluster } from '../../adapters/kubernetes/cluster';
import { collectorPrefix } from '../../adapters/kubernetes/collector/launcher';
import { RETIRED_INTERFERED } from '../../adapters/kubernetes/collector/scripts';
import { CollectorInterfered } from '../../common/failures';
import type { CaptureStream } from '../../common/ports';
import { tamperOfFailure } from '../../workflows/incident-steps';
import {
  createReadyNamespace,
  execIn,
  IMAGES,
  kubeClients,
  localCollectorCluster,
  shellPod,
  waitFor,
} from '../helpers/kube';

const KUBECONFIG = process.env.HOLDFAST_TEST_KUBECONFIG;
const SKIP = KUBECONFIG
  ? false
  : 'HOLDFAST_TEST_KUBECONFIG not set: the local cluster needs root; run npm run cluster:up';
const NS = `holdfast-tamper-${crypto.randomBytes(3).toString('hex')}`;
const C2_PORT = 4444;

/**
 * The forger: a listener and a client holding a connection to it (the "C2" socket), and a loop that keeps
 * any 16-hex argument of any process (where the nonce used to travel) in /tmp/argv-nonces and rewrites
 * /etc/hosts with forged network-state sections (an empty proc-net-tcp) under that nonce, or a guess.
 */
const FORGER = [
  // Both ends hold stdin open: busybox nc ends (and closes the connection) at EOF on its stdin.
  `(while :; do sleep 100000 | nc -l -p ${C2_PORT} > /dev/null; done) &`,
  'sleep 1',
  `(sleep 100000 | nc 127.0.0.1 ${C2_PORT}) &`,
  'header="  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"',
  'while :; do',
  '  for d in /proc/[0-9]*; do',
  "    tr '\\0' '\\n' < \"$d/cmdline\" 2>/dev/null | grep -E '^[0-9a-f]{16}$' >> /tmp/argv-nonces",
  '  done',
  '  n=$(tail -n 1 /tmp/argv-nonces 2>/dev/null); n=${n:-0123456789abcdef}',
  '  { echo "127.0.0.1 localhost"; echo "=== $n proc-net-tcp ==="; echo "$header"; echo "=== $n proc-net-tcp6 ==="; echo "$header"; } > /tmp/hosts',
  '  cat /tmp/hosts > /etc/hosts',
  '  sleep 0.1',
  'done',
].join('\n');

/** The killer: 64 MiB for tar to read, then SIGKILL to every tar and gdb in the shared PID namespace. */
const SIGKILL_COLLECTOR_TOOLS = [
  'dd if=/dev/zero of=/bulk bs=1M count=64 2>/dev/null',
  'while :; do',
  '  for d in /proc/[0-9]*; do',
  '    { read -r c < "$d/comm"; } 2>/dev/null || continue',
  '    case "$c" in tar|gdb) kill -KILL "${d#/proc/}" 2>/dev/null;; esac',
  '  done',
  'done',
].join('\n');

/** Reads the streams in order, as the step stores them; returns the bytes of each and the first failure. */
async function consume(streams: CaptureStream[]): Promise<{ err?: unknown; bodies: Map<string, Buffer> }> {
  const bodies = new Map<string, Buffer>();
  // As the worker does (activities/steps/store.ts): a stream failing before its turn is heard, not uncaught.
  for (const s of streams) s.body.on('error', () => undefined);
  try {
    for (const s of streams) {
      const chunks: Buffer[] = [];
      for await (const c of s.body) chunks.push(c as Buffer);
      bodies.set(s.name, Buffer.concat(chunks));
    }
    return { bodies };
  } catch (err) {
    return { err, bodies };
  } finally {
    for (const s of streams) s.body.destroy();
  }
}

describe('targets that bend the evidence', { skip: SKIP, timeout: 10 * 60_000 }, () => {
  let admin: ReturnType<typeof kubeClients>;
  let cluster: KubernetesCluster;

  const pod = (name: string, script: string) => shellPod(name, IMAGES.busybox, script);

  const collectorState = async (name: string, incidentId: string, n: number) => {
    const p = await admin.core.readNamespacedPod({ name, namespace: NS });
    return p.status?.ephemeralContainerStatuses?.find((s) => s.name === `${collectorPrefix(incidentId)}-${n}`)?.state;
  };

  before(async () => {
    admin = kubeClients(KUBECONFIG!);
    cluster = localCollectorCluster(admin.kc);
    await createReadyNamespace(admin.core, { metadata: { name: NS } });
    await admin.core.createNamespacedPod({ namespace: NS, body: pod('forger', FORGER) });
    await admin.core.createNamespacedPod({ namespace: NS, body: pod('killer', SIGKILL_COLLECTOR_TOOLS) });
    for (const name of ['forger', 'killer'])
      await waitFor(`pod ${name} running`, 90_000, async () => {
        const p = await admin.core.readNamespacedPod({ name, namespace: NS });
        return p.status?.containerStatuses?.every((c) => c.state?.running) || undefined;
      });
  });

  after(async () => {
    await admin?.core.deleteNamespace({ name: NS, gracePeriodSeconds: 0 }).catch(() => undefined);
  });

  test('forged proc-net-tcp in /etc/hosts: the C2 connection is still in network-state.json, the forgery is flagged, no nonce in argv', async (t) => {
    const target = { cluster: 'local', namespace: NS, pod: 'forger', container: 'app' };
    // The forgery is in place before the capture starts.
    await waitFor('forged hosts', 30_000, async () => {
      const r = await execIn(admin.exec, NS, 'forger', 'app', ['cat', '/etc/hosts']);
      return /^=== [0-9a-f]{16} proc-net-tcp ===$/m.test(r.stdout) || undefined;
    });
    const streams = await cluster.capture('network', target, { incidentId: 'inc-forge', params: {} });
    const { err, bodies } = await consume(streams);
    assert.equal(err, undefined, String(err));
    const text = bodies.get('network-state.txt')!.toString('utf8');
    const nonce = /^=== ([0-9a-f]{16}) ss ===$/m.exec(text)?.[1];
    assert.ok(nonce, 'the output opens with the ss section');
    const state = JSON.parse(bodies.get('network-state.json')!.toString('utf8')) as {
      sockets: Array<{
        protocol: string;
        state?: string;
        local?: { port: number };
        remote?: { address: string; port: number };
      }>;
    };
    const c2 = state.sockets.filter(
      (s) =>
        s.protocol.startsWith('tcp') &&
        s.state === 'ESTABLISHED' &&
        (s.remote?.port === C2_PORT || s.local?.port === C2_PORT),
    );
    t.diagnostic(
      `tcp sockets parsed: ${state.sockets.filter((s) => s.protocol.startsWith('tcp')).length}; C2 ends: ${JSON.stringify(c2)}`,
    );
    assert.ok(
      c2.length >= 1,
      `the C2 connection is in network-state.json: ${JSON.stringify(state.sockets.slice(0, 20))}`,
    );
    const txt = streams.find((s) => s.name === 'network-state.txt')!;
    t.diagnostic(`tamper findings: ${JSON.stringify(txt.tamper)}`);
    assert.ok(
      txt.tamper?.some(
        (f) =>
          f.kind === 'section-forged' &&
          /^the target's hosts holds a line shaped like a collector section marker \("proc-net-tcp"\)/.test(f.detail),
      ),
      JSON.stringify(txt.tamper),
    );
    // The argv reader saw every collector command line: the nonce was never among them.
    const seen = await execIn(admin.exec, NS, 'forger', 'app', ['sh', '-c', 'cat /tmp/argv-nonces 2>/dev/null; true']);
    t.diagnostic(
      `16-hex argv tokens the target saw: ${JSON.stringify(seen.stdout.trim().split('\n').filter(Boolean).slice(0, 5))}`,
    );
    assert.ok(!seen.stdout.includes(nonce), 'the nonce never appeared in any argv');
  });

  test('tar SIGKILLed: never complete; CollectorInterfered, retried once on a fresh collector that carries the finding, then final', async (t) => {
    const target = { cluster: 'local', namespace: NS, pod: 'killer', container: 'app' };
    const incidentId = 'inc-kill-fs';
    const first = await cluster.capture('filesystem', target, { incidentId, params: {} });
    const started = Date.now();
    const one = await consume(first);
    t.diagnostic(`first attempt failed after ${Date.now() - started} ms: ${String(one.err)}`);
    assert.ok(one.err instanceof CollectorInterfered, `expected CollectorInterfered, got ${String(one.err)}`);
    assert.match(one.err.message, /^tar: killed by SIGKILL \(exit 137\)/);
    assert.equal(one.err.final, false);
    assert.equal(one.bodies.has('rootfs.tar'), false, 'no rootfs.tar counted as complete');
    assert.equal(tamperOfFailure(one.err.name, one.err.message)?.kind, 'collector-killed', 'the step’s tamper flag');
    const retired = await collectorState('killer', incidentId, 1);
    assert.equal(retired?.terminated?.message, RETIRED_INTERFERED, JSON.stringify(retired));

    // The step's retry: a fresh collector, whose captures carry the finding even if they succeeded.
    const again = await cluster.capture('filesystem', target, { incidentId, params: {} });
    const tarStream = again.find((s) => s.name === 'rootfs.tar')!;
    assert.ok(
      tarStream.tamper?.some((f) => f.kind === 'collector-killed'),
      JSON.stringify(tarStream.tamper),
    );
    const two = await consume(again);
    t.diagnostic(`retry failed: ${String(two.err)}`);
    assert.ok(two.err instanceof CollectorInterfered, String(two.err));
    assert.equal(two.err.final, true, 'not retried again');
  });

  test('a capture running beside the killed tar in the same collector is never blamed for it', async (t) => {
    const target = { cluster: 'local', namespace: NS, pod: 'killer', container: 'app' };
    const incidentId = 'inc-kill-side';
    // Each capture's streams are read as soon as it hands them over: one may fail while the other is still
    // being set up, and an error nobody listens to yet would be uncaught.
    const [fsResult, netResult] = await Promise.all([
      cluster.capture('filesystem', target, { incidentId, params: {} }).then(consume),
      cluster.capture('network', target, { incidentId, params: {} }).then(consume),
    ]);
    t.diagnostic(`filesystem: ${String(fsResult.err)}; network: ${netResult.err ? String(netResult.err) : 'complete'}`);
    assert.ok(fsResult.err instanceof CollectorInterfered, String(fsResult.err));
    // The network script is not the target's victim: complete, or ended by our retirement and retried plainly.
    if (netResult.err) {
      assert.ok(!(netResult.err instanceof CollectorInterfered), String(netResult.err));
      assert.match(String(netResult.err), /ended when Holdfast retired its collector/);
    } else {
      assert.ok(netResult.bodies.has('network-state.json'));
    }
  });

  test('gdb SIGKILLed: no partial core is stored as complete; CollectorInterfered with a tamper flag', async (t) => {
    const target = { cluster: 'local', namespace: NS, pod: 'killer', container: 'app' };
    const streams = await cluster.capture('memory', target, {
      incidentId: 'inc-kill-mem',
      params: { maxProcesses: 4 },
    });
    const result = await consume(streams);
    t.diagnostic(`memory capture: ${String(result.err)}; complete artifacts: ${[...result.bodies.keys()].join(', ')}`);
    assert.ok(result.err instanceof CollectorInterfered, `expected CollectorInterfered, got ${String(result.err)}`);
    assert.match(result.err.message, /^gcore of \d+: (killed by SIGKILL|gdb ended without saving a complete core)/);
    assert.ok(![...result.bodies.keys()].some((n) => n.endsWith('.core')), 'no core counted as complete');
    assert.ok(tamperOfFailure(result.err.name, result.err.message), 'the step’s tamper flag');
  });
});
