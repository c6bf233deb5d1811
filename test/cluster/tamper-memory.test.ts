/**
 * Targets that hide evidence rather than forge it (root in the suspect container; static C workloads from the
 * hostile image, scripts/cluster/images/hostile.c):
 * - an implant mapping 3 GiB PROT_READ|MAP_NORESERVE (free) with a marker in a small written region, among 40
 *   decoy processes: the marker is in the memory evidence, every pid not dumped is listed with why;
 * - a running binary deleted from disk: recovered through /proc/<pid>/exe, its hash listed;
 * - PID 1 chrooted into a decoy tree: a root-inconsistent tamper flag, the real root's dropped file in rootfs.tar;
 * - 200,000 unix sockets: the worker (this process) stays bounded while the whole output streams through it,
 *   and the parsed state notes the bound.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import * as tar from 'tar-stream';
import type { KubernetesCluster } from '../../adapters/kubernetes/cluster';
import type { CaptureStream } from '../../common/ports';
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
const NS = `holdfast-hide-${crypto.randomBytes(3).toString('hex')}`;
const MARKER = crypto.randomBytes(8).toString('hex');
/** What the implant writes into its small region: the marker reversed (argv holds it forwards). */
const WRITTEN = `implant-marker:${[...MARKER].reverse().join('')}`;
const DROPPED = `real-root-payload-${crypto.randomBytes(6).toString('hex')}`;
const MiB = 1024 * 1024;

const IMPLANT = [`/hostile bigmap ${MARKER} &`, 'for i in $(seq 40); do /hostile decoy 8192 & done', 'wait'].join('\n');
const DELETED_BINARY = [
  'cp /hostile /tmp/implant',
  '/tmp/implant decoy 64 &',
  'sleep 1',
  'rm -f /tmp/implant',
  'while :; do sleep 3600; done',
].join('\n');
/** The dropper keeps running in the real root; PID 1 then chroots into a decoy tree. */
const CHROOT_DECOY = [
  'mkdir -p /decoy/bin /decoy/etc',
  'cp /bin/busybox /decoy/bin/busybox',
  'echo "nothing to see" > /decoy/etc/motd',
  `echo ${DROPPED} > /root/dropped-payload`,
  '(while :; do sleep 3600; done) &',
  "exec chroot /decoy /bin/busybox sh -c 'while :; do /bin/busybox sleep 3600; done'",
].join('\n');
const SOCKETS = '/hostile sockets 200000';

interface Consumed {
  err?: unknown;
  /** Whole bodies of the small (JSON) artifacts. */
  json: Map<string, unknown>;
  /** Size and sha256 of every artifact; whether it holds the text looked for. */
  seen: Map<string, { bytes: number; sha256: string; found: boolean }>;
  tar?: Buffer;
}

/**
 * Reads the streams in order as the step stores them, keeping only what the test looks at: JSON parsed,
 * rootfs.tar whole (small images), everything else hashed and searched for `needle` on the fly.
 */
async function consume(streams: CaptureStream[], needle?: string): Promise<Consumed> {
  const out: Consumed = { json: new Map(), seen: new Map() };
  for (const s of streams) s.body.on('error', () => undefined);
  try {
    for (const s of streams) {
      const hash = crypto.createHash('sha256');
      const keep = s.name.endsWith('.json') || s.name === 'rootfs.tar';
      const kept: Buffer[] = [];
      let bytes = 0;
      let found = false;
      let tail = Buffer.alloc(0);
      for await (const c of s.body) {
        const chunk = c as Buffer;
        hash.update(chunk);
        bytes += chunk.length;
        if (keep) kept.push(chunk);
        if (needle && !found) {
          const window = Buffer.concat([tail, chunk]);
          found = window.includes(needle);
          tail = window.subarray(Math.max(0, window.length - needle.length));
        }
      }
      out.seen.set(s.name, { bytes, sha256: hash.digest('hex'), found });
      if (s.name.endsWith('.json')) out.json.set(s.name, JSON.parse(Buffer.concat(kept).toString('utf8')));
      if (s.name === 'rootfs.tar') out.tar = Buffer.concat(kept);
    }
  } catch (err) {
    out.err = err;
  } finally {
    for (const s of streams) s.body.destroy();
  }
  return out;
}

async function tarFile(archive: Buffer, name: string): Promise<string | undefined> {
  const extract = tar.extract();
  let found: string | undefined;
  const done = new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => {
      if (header.name === name) chunks.push(c as Buffer);
    });
    stream.on('end', () => {
      if (header.name === name) found = Buffer.concat(chunks).toString('utf8');
      next();
    });
  });
  extract.end(archive);
  await done;
  return found;
}

describe('targets that hide evidence', { skip: SKIP, timeout: 15 * 60_000 }, () => {
  let admin: ReturnType<typeof kubeClients>;
  let cluster: KubernetesCluster;

  const pod = (name: string, script: string) => shellPod(name, IMAGES.hostile, script);
  const target = (name: string) => ({ cluster: 'local', namespace: NS, pod: name, container: 'app' });

  before(async () => {
    admin = kubeClients(KUBECONFIG!);
    cluster = localCollectorCluster(admin.kc);
    await createReadyNamespace(admin.core, { metadata: { name: NS } });
    const pods: Array<[string, string]> = [
      ['implant', IMPLANT],
      ['deleted', DELETED_BINARY],
      ['chroot', CHROOT_DECOY],
      ['sockets', SOCKETS],
    ];
    for (const [name, script] of pods) await admin.core.createNamespacedPod({ namespace: NS, body: pod(name, script) });
    for (const [name] of pods)
      await waitFor(`pod ${name} running`, 90_000, async () => {
        const p = await admin.core.readNamespacedPod({ name, namespace: NS });
        return p.status?.containerStatuses?.every((c) => c.state?.running) || undefined;
      });
  });

  after(async () => {
    await admin?.core.deleteNamespace({ name: NS, gracePeriodSeconds: 0 }).catch(() => undefined);
  });

  test('3 GiB NORESERVE implant among 40 decoys: its written region is in the evidence; every pid not dumped is listed', async (t) => {
    await waitFor('implant and decoys started', 60_000, async () => {
      const r = await execIn(admin.exec, NS, 'implant', 'app', ['sh', '-c', 'ls -d /proc/[0-9]* | wc -l']);
      return Number(r.stdout.trim()) >= 45 || undefined;
    });
    const started = Date.now();
    const streams = await cluster.capture('memory', target('implant'), {
      incidentId: 'inc-hide-mem',
      params: { maxProcesses: 12 },
    });
    const result = await consume(streams, WRITTEN);
    t.diagnostic(
      `memory capture: ${Date.now() - started} ms, ${streams.length} artifacts, error: ${String(result.err)}`,
    );
    assert.equal(result.err, undefined, String(result.err));
    const listed = result.json.get('processes.json') as {
      processes: Array<{ pid: number; comm: string; cmdline: string; rssKiB?: number }>;
      dumped: number[];
      notDumped: Array<{ pid: number; reason: string }>;
    };
    const implant = listed.processes.find((p) => p.cmdline.startsWith(`/hostile bigmap ${MARKER}`));
    assert.ok(implant, `the implant is listed: ${JSON.stringify(listed.processes.slice(0, 5))}`);
    t.diagnostic(
      `${listed.processes.length} processes (pid:KiB resident): ${listed.processes.map((p) => `${p.pid}:${p.rssKiB}`).join(' ')}; dumped ${listed.dumped.join(',')}`,
    );
    assert.ok(listed.dumped.includes(implant.pid), 'the implant is dumped');
    const core = result.seen.get(`pid-${implant.pid}.resident.core`);
    t.diagnostic(`implant pid ${implant.pid} (${implant.rssKiB} KiB resident): resident core ${JSON.stringify(core)}`);
    assert.ok(core?.found, `the marker written by the implant is in pid-${implant.pid}.resident.core`);
    assert.ok(core.bytes < 64 * MiB, `the resident core is small (${core.bytes} bytes), not 3 GiB`);
    const coreStream = streams.find((s) => s.name === `pid-${implant.pid}.resident.core`)!;
    t.diagnostic(`resident core notes: ${JSON.stringify(coreStream.notes)}`);
    assert.match(coreStream.notes.join('\n'), /readable bytes mapped exceed maxBytesPerProcess/);

    // 42+ processes, 12 dumped: each of the others listed with why, in the artifact and in the manifest notes.
    assert.equal(listed.dumped.length, 12);
    assert.equal(listed.notDumped.length, listed.processes.length - 12);
    assert.ok(listed.notDumped.every((p) => /maxProcesses 12/.test(p.reason)));
    const summary = result.json.get('not-dumped.json') as { notDumped: Array<{ pid: number }> };
    assert.deepEqual(
      summary.notDumped.map((p) => p.pid).sort((a, b) => a - b),
      listed.notDumped.map((p) => p.pid).sort((a, b) => a - b),
    );
    const psNotes = streams.find((s) => s.name === 'processes.json')!.notes.join('\n');
    t.diagnostic(`processes.json notes: ${psNotes.slice(0, 400)}`);
    for (const p of listed.notDumped) assert.match(psNotes, new RegExp(`\\b${p.pid} \\(`));
    // Every dumped process has a core (full or resident); none of the skipped has one.
    for (const pid of listed.dumped)
      assert.ok(result.seen.has(`pid-${pid}.core`) || result.seen.has(`pid-${pid}.resident.core`), `core of ${pid}`);
  });

  test('a running binary deleted from disk: recovered through /proc/<pid>/exe, its hash listed and matching', async (t) => {
    await waitFor('the implant deleted', 30_000, async () => {
      const r = await execIn(admin.exec, NS, 'deleted', 'app', ['sh', '-c', 'test -e /tmp/implant; echo $?']);
      return r.stdout.trim() === '1' || undefined;
    });
    const original = await execIn(admin.exec, NS, 'deleted', 'app', ['sha256sum', '/hostile']);
    const want = original.stdout.split(' ')[0]!;
    const streams = await cluster.capture('memory', target('deleted'), { incidentId: 'inc-hide-exe', params: {} });
    const result = await consume(streams);
    assert.equal(result.err, undefined, String(result.err));
    const { executables } = result.json.get('executables.json') as {
      executables: Array<{ pid: number; link: string; deleted: boolean; sha256?: string; storedAs: string | null }>;
    };
    const dropped = executables.find((e) => e.link === '/tmp/implant (deleted)');
    t.diagnostic(`executables: ${JSON.stringify(executables)}`);
    assert.ok(dropped, 'the deleted binary is listed');
    assert.equal(dropped.deleted, true);
    assert.equal(dropped.sha256, want, 'its hash is the dropped file’s');
    assert.ok(dropped.storedAs);
    const stored = result.seen.get(dropped.storedAs);
    assert.equal(stored?.sha256, want, 'the stored bytes are the binary');
    // Deduplicated: one artifact per distinct executable.
    const exeArtifacts = streams.filter((s) => s.name.startsWith('exe-'));
    assert.equal(exeArtifacts.length, new Set(executables.map((e) => e.sha256).filter(Boolean)).size);
  });

  test('PID 1 chrooted into a decoy: root-inconsistent flag, both roots named, the real root’s dropped file in rootfs.tar', async (t) => {
    await waitFor('PID 1 chrooted', 30_000, async () => {
      const r = await execIn(admin.exec, NS, 'chroot', 'app', ['sh', '-c', 'ls /proc/1/root/']);
      return /^bin\netc\n?$/.test(r.stdout) || undefined;
    });
    const streams = await cluster.capture('filesystem', target('chroot'), { incidentId: 'inc-hide-root', params: {} });
    const result = await consume(streams);
    assert.equal(result.err, undefined, String(result.err));
    const tarStream = streams.find((s) => s.name === 'rootfs.tar')!;
    t.diagnostic(`tamper: ${JSON.stringify(tarStream.tamper)}`);
    assert.ok(
      tarStream.tamper?.some((f) => f.kind === 'root-inconsistent' && /different roots/.test(f.detail)),
      JSON.stringify(tarStream.tamper),
    );
    const roots = result.json.get('roots.json') as {
      readThroughPid: number;
      roots: Array<{ pids: number[]; mountAtRoot: string }>;
    };
    assert.equal(roots.roots.length, 2, JSON.stringify(roots));
    assert.ok(
      roots.roots.some((r) => r.pids.includes(1) && r.mountAtRoot === '-'),
      'PID 1 sees the decoy',
    );
    assert.notEqual(roots.readThroughPid, 1);
    const dropped = await tarFile(result.tar!, './root/dropped-payload');
    assert.equal(dropped?.trim(), DROPPED, 'the real root’s dropped file is in rootfs.tar');
    assert.ok(await tarFile(result.tar!, './decoy/etc/motd'), 'the decoy tree is there too, inside the real root');
  });

  test('200,000 unix sockets: the worker stays bounded while the output streams through; the bound is noted', async (t) => {
    await waitFor('200,000 unix sockets', 180_000, async () => {
      const r = await execIn(admin.exec, NS, 'sockets', 'app', ['sh', '-c', 'wc -l < /proc/net/unix']);
      return Number(r.stdout.trim()) >= 200_000 || undefined;
    });
    global.gc?.();
    const before = process.memoryUsage();
    let peak = before.rss;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    const started = Date.now();
    // A byte bound well above the output: all of it passes through the worker.
    const streams = await cluster.capture('network', target('sockets'), {
      incidentId: 'inc-hide-net',
      params: { maxBytes: 512 * MiB, timeoutSeconds: 600 },
    });
    const result = await consume(streams);
    clearInterval(sampler);
    const afterRss = process.memoryUsage().rss;
    const raw = result.seen.get('network-state.txt');
    t.diagnostic(
      `network capture ${Date.now() - started} ms; raw output ${raw?.bytes} bytes; worker RSS before ${(before.rss / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB, after ${(afterRss / MiB).toFixed(1)} MiB (heap before ${(before.heapUsed / MiB).toFixed(1)} MiB)`,
    );
    assert.equal(result.err, undefined, String(result.err));
    assert.ok((raw?.bytes ?? 0) > 10 * MiB, `the whole output streamed through (${raw?.bytes} bytes)`);
    const state = result.json.get('network-state.json') as {
      sockets: Array<{ protocol: string }>;
      bounded: Record<string, { seen: number; parsed: number }>;
    };
    t.diagnostic(`bounded: ${JSON.stringify(state.bounded)}`);
    assert.ok((state.bounded['proc-net-unix']?.seen ?? 0) >= 200_000, JSON.stringify(state.bounded));
    assert.equal(state.sockets.filter((s) => s.protocol.startsWith('unix')).length, 20_000);
    const notes = streams.find((s) => s.name === 'network-state.txt')!.notes.join('\n');
    assert.match(notes, /proc-net-unix: \d+ entries, the first 20000 parsed into network-state\.json/);
    assert.ok(
      peak - before.rss < 256 * MiB,
      `worker RSS grew by ${((peak - before.rss) / MiB).toFixed(1)} MiB for ${raw?.bytes} bytes of output`,
    );
  });
});
