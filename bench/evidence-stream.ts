/**
 * bench/evidence-stream: the same generated stream uploaded through the evidence store (SHA-256 and
 * byte count while streaming, Object Lock, version tag) and through a plain lib-storage multipart
 * Upload without hashing. Prints the throughput ratio (goal >= 0.8) and the process's peak RSS growth
 * (goal < 64 MiB) over the warm, garbage-collected process, for the store's and the plain runs apart
 * and together. Peaks come from the kernel's VmHWM (reset before each run) where Linux allows it.
 *
 *   node dist/bench/evidence-stream.js [SIZE] [--rounds N]     SIZE like 1GiB (default), 256MiB, 100000000
 *   HOLDFAST_BENCH_BYTES=256MiB node dist/bench/evidence-stream.js
 *
 * Starts its own versitygw (temp dir, removed afterwards) unless S3_ENDPOINT is set; against an external
 * S3 the objects stay under Object Lock (GOVERNANCE, 1 day) below `incidents/inc-bench-*`.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Upload } from '@aws-sdk/lib-storage';
import { createS3Client } from '../adapters/s3/client';
import { S3EvidenceStore } from '../adapters/s3/evidence-store';
import { loadConfig, silenceAwsSdkNodeWarning } from '../common/config';
import { startS3 } from '../scripts/stack';

const MiB = 1024 * 1024;

export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(b|kib|mib|gib|kb|mb|gb)?$/i.exec(text.trim());
  if (!match) throw new Error(`cannot read size "${text}" (e.g. 1GiB, 256MiB, 1000000)`);
  const unit = (match[2] ?? 'b').toLowerCase();
  const factor = { b: 1, kib: 1024, mib: MiB, gib: 1024 * MiB, kb: 1e3, mb: 1e6, gb: 1e9 }[unit]!;
  return Math.round(Number(match[1]) * factor);
}

/** A fast generated stream: random 1 MiB pool, each block a fresh copy stamped with its index. */
function generated(size: number, pool: Buffer): Readable {
  let produced = 0;
  let index = 0;
  return new Readable({
    highWaterMark: MiB,
    read() {
      if (produced >= size) return void this.push(null);
      const n = Math.min(pool.length, size - produced);
      const block = Buffer.allocUnsafe(n);
      pool.copy(block, 0, 0, n);
      if (n >= 8) block.writeBigUInt64BE(BigInt(index++), 0);
      produced += n;
      this.push(block);
    },
  });
}

/** The kernel's peak RSS of this process (VmHWM), after `resetPeak`; undefined where /proc is not Linux's. */
function kernelPeakRss(): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Resets VmHWM to the current RSS (Linux: "5" > /proc/self/clear_refs); false where that is not possible. */
function resetPeak(): boolean {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `run` and returns its duration and peak RSS. The peak is the kernel's high-water mark (VmHWM,
 * reset before the run), so no short spike between two samples is missed; RSS is also sampled every
 * 5 ms (the only source where VmHWM cannot be reset; a busy event loop samples less often).
 */
async function measured<T>(run: () => Promise<T>): Promise<{
  result: T;
  seconds: number;
  cpuSeconds: number;
  peakRss: number;
  peakBuffers: number;
  kernelPeak: boolean;
}> {
  const kernelPeak = resetPeak();
  let peakRss = process.memoryUsage.rss();
  let peakBuffers = process.memoryUsage().arrayBuffers;
  const cpu = process.cpuUsage();
  const timer = setInterval(() => {
    const usage = process.memoryUsage();
    peakRss = Math.max(peakRss, usage.rss);
    peakBuffers = Math.max(peakBuffers, usage.arrayBuffers);
  }, 5);
  const started = process.hrtime.bigint();
  try {
    const result = await run();
    const used = process.cpuUsage(cpu);
    peakRss = Math.max(peakRss, process.memoryUsage.rss(), (kernelPeak && kernelPeakRss()) || 0);
    return {
      result,
      seconds: Number(process.hrtime.bigint() - started) / 1e9,
      cpuSeconds: (used.user + used.system) / 1e6,
      peakRss,
      peakBuffers,
      kernelPeak,
    };
  } finally {
    clearInterval(timer);
  }
}

/** A full garbage collection, for the baseline only (never during a measured run). */
function collectGarbage(): boolean {
  if (!global.gc) v8.setFlagsFromString('--expose-gc');
  const gc = global.gc ?? (vm.runInNewContext('gc') as (() => void) | undefined);
  if (!gc) return false;
  gc();
  return true;
}

async function main(): Promise<void> {
  silenceAwsSdkNodeWarning();
  const { values, positionals } = parseArgs({
    options: { rounds: { type: 'string', default: '2' } },
    allowPositionals: true,
  });
  const size = parseSize(positionals[0] ?? process.env.HOLDFAST_BENCH_BYTES ?? '1GiB');
  const rounds = Math.max(1, Number(values.rounds));
  const say = (line: string) => process.stdout.write(`${line}\n`);

  let dataDir: string | undefined;
  let stop = async () => {};
  let s3Config;
  if (process.env.S3_ENDPOINT) {
    s3Config = loadConfig().s3;
    say(`[bench] using S3 at ${s3Config.endpoint} (bucket ${s3Config.bucket})`);
  } else {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-bench-evidence-'));
    const server = await startS3({
      dataDir,
      namespace: 'holdfast',
      bucket: 'holdfast-evidence',
      log: (l) => process.stderr.write(`${l}\n`),
    });
    stop = server.stop;
    s3Config = {
      endpoint: server.endpoint,
      region: 'us-east-1',
      bucket: 'holdfast-evidence',
      forcePathStyle: true,
      ...server.credentials,
    };
    say(`[bench] started versitygw at ${server.endpoint} (data in ${dataDir})`);
  }
  const s3 = createS3Client(s3Config);
  const retention = { mode: 'GOVERNANCE' as const, days: 1 };
  // Part size and parts in flight from HOLDFAST_EVIDENCE_PART_MIB / HOLDFAST_EVIDENCE_QUEUE, as in the worker.
  const { partSize, queueSize } = loadConfig().evidence;
  const store = new S3EvidenceStore({ s3, bucket: s3Config.bucket, retention, partSize, queueSize });
  const pool = crypto.randomBytes(MiB);
  const runId = `inc-bench-${Date.now()}`;
  say(
    `[bench] ${(size / MiB).toFixed(0)} MiB per upload, part ${partSize / MiB} MiB x ${queueSize} in flight, ${rounds} round(s), alternating plain / store`,
  );

  const plain = async (i: number, bytes = size) => {
    const upload = new Upload({
      client: s3,
      params: {
        Bucket: s3Config.bucket,
        Key: `incidents/${runId}/plain/blob-${i}`,
        Body: generated(bytes, pool),
        ContentType: 'application/octet-stream',
        ...store.lockParams(),
      },
      partSize,
      queueSize,
      leavePartsOnError: false,
    });
    await upload.done();
  };
  const viaStore = async (i: number) =>
    store.putArtifact({
      incidentId: runId,
      step: 'store',
      name: `blob-${i}`,
      contentType: 'application/octet-stream',
      collector: { name: 'bench', version: '1' },
      method: 'generated',
      body: generated(size, pool),
    });

  // A small warm-up so connection set-up and lazy SDK loading are not charged to the first run. Its
  // garbage (some 20 MiB of dead part buffers) is then collected, so the baseline is what the warm,
  // idle process holds: a baseline with that garbage in it would hide as much of the runs' growth.
  await plain(-1, 16 * MiB);
  const uncollectedRss = process.memoryUsage.rss();
  const collected = collectGarbage();
  await new Promise((resolve) => setTimeout(resolve, 200));
  const baselineRss = process.memoryUsage.rss();
  say(
    `[bench] baseline RSS after warm-up ${(baselineRss / MiB).toFixed(0)} MiB (${collected ? `after a full GC; ${(uncollectedRss / MiB).toFixed(0)} MiB before it` : "no GC available: includes the warm-up's garbage"}); peaks from ${kernelPeakRss() !== undefined && resetPeak() ? "the kernel's VmHWM and" : ''} 5 ms samples`,
  );
  const times = { plain: [] as number[], store: [] as number[] };
  const cpu = { plain: [] as number[], store: [] as number[] };
  const peaks = { plain: baselineRss, store: baselineRss };
  let peak = baselineRss;
  const runOne = async (kind: 'plain' | 'store', round: number) => {
    const r = await measured(async () => (kind === 'plain' ? plain(round) : (await viaStore(round)).sha256));
    times[kind].push(r.seconds);
    cpu[kind].push(r.cpuSeconds);
    peak = Math.max(peak, r.peakRss);
    peaks[kind] = Math.max(peaks[kind], r.peakRss);
    say(
      `[bench] round ${round + 1} ${kind.padEnd(5)} : ${(size / MiB / r.seconds).toFixed(1)} MiB/s (${r.seconds.toFixed(2)} s, client CPU ${r.cpuSeconds.toFixed(2)} s), peak RSS +${((r.peakRss - baselineRss) / MiB).toFixed(1)} MiB (Buffers peak ${(r.peakBuffers / MiB).toFixed(1)} MiB)${r.result ? `, sha256 ${r.result.slice(0, 16)}…` : ''}`,
    );
  };
  const runPlain = (round: number) => runOne('plain', round);
  const runStore = (round: number) => runOne('store', round);
  for (let round = 0; round < rounds; round++) {
    // Alternate which goes first, so drift in a shared machine's load does not favour one side.
    if (round % 2 === 0) {
      await runPlain(round);
      await runStore(round);
    } else {
      await runStore(round);
      await runPlain(round);
    }
  }
  const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const plainRate = (size * rounds) / total(times.plain);
  const storeRate = (size * rounds) / total(times.store);
  const ratio = storeRate / plainRate;
  const growth = (peak - baselineRss) / MiB;
  const storeGrowth = (peaks.store - baselineRss) / MiB;
  const plainGrowth = (peaks.plain - baselineRss) / MiB;
  const gib = (size * rounds) / (1024 * MiB);
  say('');
  say(`plain lib-storage Upload : ${(plainRate / MiB).toFixed(1)} MiB/s`);
  say(`evidence store           : ${(storeRate / MiB).toFixed(1)} MiB/s`);
  say(`throughput ratio         : ${ratio.toFixed(2)} (goal >= 0.80) ${ratio >= 0.8 ? 'OK' : 'BELOW GOAL'}`);
  say(
    `client CPU per GiB       : plain ${(total(cpu.plain) / gib).toFixed(2)} s, store ${(total(cpu.store) / gib).toFixed(2)} s (the store's extra work: SHA-256 + re-chunking)`,
  );
  say(
    `peak RSS growth          : ${growth.toFixed(1)} MiB over ${(baselineRss / MiB).toFixed(0)} MiB for the whole process (store runs: +${storeGrowth.toFixed(1)} MiB, plain runs: +${plainGrowth.toFixed(1)} MiB) (goal < 64 MiB) ${growth < 64 ? 'OK' : 'ABOVE GOAL'}`,
  );
  say(
    `machine load average     : ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${os.cpus().length} CPUs (wall-clock figures are noisy on a shared machine)`,
  );
  s3.destroy();
  await stop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
