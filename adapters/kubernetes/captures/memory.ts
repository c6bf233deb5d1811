import crypto from 'node:crypto';
import https from 'node:https';
import { pipeline, Readable, Transform } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { PermissionDenied } from '../../../common/failures';
import { jsonBody } from '../../../evidence/json-body';
import type { CaptureStream } from '../../../common/ports';
import { dryRunPlan } from '../collector/dry-run';
import { cutShort, describeOutcome, ExecReadable, type ExecOutcome, execSmall } from '../collector/exec-stream';
import type { CollectorHandle } from '../collector/launcher';
import { listTargetProcesses, MAX_LISTED_PROCESSES, type TargetProcess } from '../collector/processes';
import { COLLECTOR_RBAC } from '../collector/rbac';
import {
  CORE_DUMP,
  CORE_INCOMPLETE,
  CORE_STAGE_BOUND,
  EXECUTABLES,
  RESIDENT_DUMP_TOOL,
  STAGE_ROOM,
} from '../collector/scripts';
import type { Kube } from '../kube';
import { defineCapture } from '../units';

/** Mappings the kernel serves specially: reading them fails or means nothing. */
const SPECIAL_MAPPINGS = new Set(['[vvar]', '[vsyscall]', '[vvar_vclock]']);

/** Bytes in readable mappings according to /proc/<pid>/maps: what a core of the process will hold. */
export function readableBytes(maps: string): bigint {
  let total = 0n;
  for (const line of maps.split('\n')) {
    const match = line.match(/^([0-9a-f]+)-([0-9a-f]+)\s+(\S{4})\s+\S+\s+\S+\s+\S+\s*(.*)$/);
    if (!match || !match[3]!.startsWith('r') || SPECIAL_MAPPINGS.has(match[4]!.trim())) continue;
    total += BigInt(`0x${match[2]}`) - BigInt(`0x${match[1]}`);
  }
  return total;
}

/** Room a gcore needs above the mapped bytes (ELF headers, notes). */
const CORE_MARGIN = 64 * 1024 * 1024;
/** Room above the page data for a resident dump's headers (at most 60,000 segments of 56 bytes). */
const RESIDENT_HEADERS = 8 * 1024 * 1024;

export interface NotDumped {
  pid: number;
  comm: string;
  rssKiB?: number;
  reason: string;
}

/**
 * Which processes to dump when there are more than `max`: the largest (resident size) are left out first, so
 * many small decoys cannot push a process out, and each one left out is listed with why.
 */
export function chooseProcesses(
  processes: TargetProcess[],
  max: number,
): { dump: TargetProcess[]; notDumped: NotDumped[] } {
  if (processes.length <= max) return { dump: [...processes].sort((a, b) => a.pid - b.pid), notDumped: [] };
  const bySize = [...processes].sort((a, b) => (b.rssKiB ?? 0) - (a.rssKiB ?? 0) || b.pid - a.pid);
  const skip = bySize.slice(0, processes.length - max);
  return {
    dump: bySize.slice(processes.length - max).sort((a, b) => a.pid - b.pid),
    notDumped: skip
      .map((p) => ({
        pid: p.pid,
        comm: p.comm,
        rssKiB: p.rssKiB,
        reason: `bound: maxProcesses ${max} of ${processes.length} processes; the largest by resident size are left out first (${p.rssKiB ?? 0} KiB resident)`,
      }))
      .sort((a, b) => a.pid - b.pid),
  };
}

/**
 * How to dump a process whose readable mappings hold `readable` bytes: a full gcore (registers, every page)
 * when it fits both the per-process bound and the room to stage it; otherwise only its resident or swapped
 * pages, streamed without staging (a process mapping gigabytes it never touched is still dumped).
 */
export function dumpMethod(
  readable: bigint,
  maxBytesPerProcess: number,
  stageBound: number,
): { method: 'gcore' | 'resident'; why?: string } {
  const need = readable + BigInt(CORE_MARGIN);
  if (need <= BigInt(maxBytesPerProcess) && need <= BigInt(stageBound)) return { method: 'gcore' };
  const bound =
    need > BigInt(maxBytesPerProcess)
      ? `maxBytesPerProcess ${maxBytesPerProcess}`
      : `the room to stage a core in the collector (${stageBound} bytes)`;
  return {
    method: 'resident',
    why: `${readable} readable bytes mapped exceed ${bound}: only resident or swapped pages are dumped (streamed, at most maxBytesPerProcess)`,
  };
}

export interface ExecutableEntry {
  pid: number;
  /** As readlink showed /proc/<pid>/exe: the target's text, "(deleted)" when the file is gone from disk. */
  link: string;
  deleted: boolean;
  sha256?: string;
  bytes?: number;
}

/** EXECUTABLES lines → entries; a file hashed once ("=") takes the hash of the first pid with that file. */
export function parseExecutables(text: string): ExecutableEntry[] {
  const byFile = new Map<string, { sha256: string; bytes: number }>();
  const out: ExecutableEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    if (f.length < 5 || !/^\d{1,10}$/.test(f[0]!)) continue;
    const file = /^\d{1,20}:\d{1,20}$/.test(f[1]!) ? f[1]! : undefined;
    let known: { sha256: string; bytes: number } | undefined;
    if (/^[0-9a-f]{64}$/.test(f[2]!) && /^\d{1,15}$/.test(f[3]!)) {
      known = { sha256: f[2]!, bytes: Number(f[3]) };
      if (file) byFile.set(file, known);
    } else if (f[2] === '=' && file) {
      known = byFile.get(file);
    }
    const link = f.slice(4).join(' ').trim().slice(0, 1024);
    out.push({ pid: Number(f[0]), link, deleted: / \(deleted\)$/.test(link), ...known });
  }
  return out;
}

/**
 * Each process of the target container: its memory map and a core file (gcore, in the collector)
 * that gdb opens with the process's executable, or for a process too large to stage, its resident pages
 * streamed as a core; and each distinct executable, deleted or not. Optionally tries the kubelet checkpoint
 * API first and records its exact answer; the dumps run either way, as the runtime may refuse.
 */
export const memoryCapture = defineCapture({
  name: 'memory',
  description:
    'Each process of the target container: its memory maps and readable regions as a core file gdb can open (resident pages only for a process too large), streamed and hashed; ' +
    'each distinct executable (/proc/<pid>/exe, also when deleted on disk). Optionally tries the kubelet checkpoint API first and records its exact refusal.',
  params: Type.Object({
    maxBytesPerProcess: Type.Integer({ minimum: 1, default: 2 * 1024 ** 3 }),
    maxProcesses: Type.Integer({ minimum: 1, maximum: 256, default: 32 }),
    maxStagedBytes: Type.Integer({
      minimum: 0,
      default: 512 * 1024 ** 2,
      description:
        "The most a full core may take in the collector's /tmp (the pod's ephemeral storage) while gdb writes it; at most half the free space there. Larger processes are dumped as resident pages, streamed without staging.",
    }),
    maxExecutableBytes: Type.Integer({ minimum: 1, default: 256 * 1024 ** 2 }),
    timeoutSecondsPerProcess: Type.Integer({ minimum: 10, maximum: 3600, default: 600 }),
    tryCheckpoint: Type.Boolean({ default: false }),
    stallSeconds: Type.Integer({
      minimum: 5,
      maximum: 3600,
      default: 60,
      description:
        "Fail as CollectorStalled (tamper note; retried once on a fresh collector) when gcore's (the staged core's growth, then the core itself) output does not advance this long.",
    }),
  }),
  example: { maxBytesPerProcess: 536870912, maxProcesses: 16, tryCheckpoint: true },
  rbac: [
    ...COLLECTOR_RBAC,
    // only with tryCheckpoint: nodes/proxy reaches the kubelet's /run and /exec on every node
    { apiGroups: [''], resources: ['nodes/proxy'], verbs: ['create'], optionalRole: 'checkpoint' },
  ],
  timeouts: { startToCloseSeconds: 1800, heartbeatSeconds: 60, maximumAttempts: 3 },
  async capture(kube, target, params, run): Promise<CaptureStream[]> {
    if (run.dryRun) return dryRunPlan(kube.launcher, target, run.incidentId, 'memory', params);
    const handle = await kube.launcher.ensure(target, run.incidentId, run.signal);
    const retire = (why: string) => kube.launcher.retire(kube.exec, handle, why);
    const streams: CaptureStream[] = [];
    if (params.tryCheckpoint) streams.push(await tryCheckpoint(kube, handle, run.signal));

    // Every process (numeric order), then the bound: the largest are left out first, each one listed.
    const { processes, notes } = await listTargetProcesses(kube.exec, handle, MAX_LISTED_PROCESSES, run.signal, retire);
    const { dump, notDumped } = chooseProcesses(processes, params.maxProcesses);
    if (notDumped.length > 0)
      notes.push(
        `${notDumped.length} of ${processes.length} processes not dumped (bound maxProcesses ${params.maxProcesses}; the largest by resident size first): ${notDumped
          .slice(0, 64)
          .map((p) => `${p.pid} (${p.rssKiB ?? 0} KiB)`)
          .join(', ')}${notDumped.length > 64 ? ', … (all in processes.json)' : ''}`,
      );
    streams.push({
      name: 'processes.json',
      body: jsonBody({
        targetContainer: handle.targetContainer,
        processes,
        dumped: dump.map((p) => p.pid),
        notDumped,
      }),
      contentType: 'application/json',
      collector: handle.info,
      method: 'collector exec: /proc of the shared PID namespace, processes outside the collector mount namespace',
      notes: [...handle.notes, ...notes],
      tamper: [...(handle.tamper ?? [])],
    });

    streams.push(...(await executableStreams(kube, handle, processes, params.maxExecutableBytes, run.signal)));

    const stageBound = await stageRoom(kube, handle, params.maxStagedBytes, run.signal);
    for (const proc of dump) {
      // A killed cat (exit 137) must not pass for a process that ended: it fails as CollectorInterfered.
      const mapsBounds = {
        maxBytes: 16 * 1024 * 1024,
        timeoutMs: 30_000,
        signal: run.signal,
        what: `maps of ${proc.pid}`,
        onStall: retire,
      };
      const maps = await execSmall(kube.exec, handle, ['/bin/cat', `/proc/${proc.pid}/maps`], mapsBounds);
      const mapsNotes = describeOutcome(`maps of ${proc.pid}`, maps.outcome, mapsBounds);
      streams.push({
        name: `pid-${proc.pid}.maps`,
        body: Readable.from([maps.stdout]),
        contentType: 'text/plain',
        collector: handle.info,
        method: `collector exec: cat /proc/${proc.pid}/maps`,
        notes: mapsNotes,
      });
      if (maps.outcome.exitCode !== 0) {
        notDumped.push({ pid: proc.pid, comm: proc.comm, rssKiB: proc.rssKiB, reason: 'ended before its dump' });
        continue;
      }
      const readable = readableBytes(maps.stdout.toString('utf8'));
      const how = dumpMethod(readable, params.maxBytesPerProcess, stageBound.bytes);
      streams.push(
        how.method === 'gcore'
          ? gcoreStream(kube, handle, proc, readable, stageBound.bytes, params, notDumped, run.signal)
          : residentStream(kube, handle, proc, readable, how.why!, params, notDumped, run.signal),
      );
    }
    // Read last: by then it also lists the processes that ended before their dump.
    let summaryStarted = false;
    streams.push({
      name: 'not-dumped.json',
      body: new Readable({
        read() {
          if (summaryStarted) return;
          summaryStarted = true;
          this.push(Buffer.from(`${JSON.stringify({ notDumped }, null, 2)}\n`));
          this.push(null);
        },
      }),
      contentType: 'application/json',
      collector: handle.info,
      method: 'every process of the target that has no core in this evidence, and why',
      notes: [...stageBound.notes],
    });
    return streams;
  },
});

type MemoryParams = {
  maxBytesPerProcess: number;
  timeoutSecondsPerProcess: number;
  stallSeconds: number;
};

/** Bytes a full core may take in the collector's /tmp: the parameter, and at most half the free space. */
async function stageRoom(
  kube: Kube,
  handle: CollectorHandle,
  maxStagedBytes: number,
  signal?: AbortSignal,
): Promise<{ bytes: number; notes: string[] }> {
  const bounds = { maxBytes: 4096, timeoutMs: 30_000, signal, what: 'stage room' };
  const { stdout, outcome } = await execSmall(kube.exec, handle, ['sh', '-c', STAGE_ROOM], bounds);
  const free = /^\d{1,20}$/.test(stdout.toString('utf8').trim()) ? Number(stdout.toString('utf8').trim()) : NaN;
  if (outcome.exitCode !== 0 || !Number.isFinite(free))
    return {
      bytes: 0,
      notes: [
        `free space in the collector /tmp unknown (${describeOutcome('df', outcome, bounds).join('; ') || 'no number'}): every process dumped as resident pages, nothing staged`,
      ],
    };
  const bytes = Math.min(maxStagedBytes, Math.floor(free / 2));
  return {
    bytes,
    notes: [
      `full cores staged in the collector /tmp up to ${bytes} bytes (maxStagedBytes ${maxStagedBytes}, ${free} bytes free); larger processes dumped as resident pages`,
    ],
  };
}

/** A full core by gcore (ptrace attach, all mappings, registers), staged in the collector within `stageBound`. */
function gcoreStream(
  kube: Kube,
  handle: CollectorHandle,
  proc: TargetProcess,
  readable: bigint,
  stageBound: number,
  params: MemoryParams,
  notDumped: NotDumped[],
  signal?: AbortSignal,
): CaptureStream {
  // The core also holds ELF headers and notes: allow some room above the mapped bytes.
  const bounds = {
    maxBytes: Number(readable) + CORE_MARGIN,
    timeoutMs: params.timeoutSecondsPerProcess * 1000,
    signal,
    // gcore stages the core before its first byte: the script reports the staged file's growth on
    // stderr, which counts as progress, so a gdb stopped mid-dump stalls like a stopped tar.
    stallMs: params.stallSeconds * 1000,
    what: `gcore of ${proc.pid}`,
    onStall: (why: string) => kube.launcher.retire(kube.exec, handle, why),
    // gdb killed mid-dump leaves a partial core: only a core gdb reported saved is complete.
    incomplete: (o: { exitCode: number | null; stderr: string }) =>
      o.exitCode === CORE_INCOMPLETE
        ? `gcore of ${proc.pid}: gdb ended without saving a complete core while the process still runs: possibly killed by a process in the target`
        : undefined,
  };
  const coreNotes = [
    `pid ${proc.pid} (${proc.comm}) ${proc.exe}: open with gdb <executable> pid-${proc.pid}.core; ${readable} readable bytes mapped`,
  ];
  return {
    name: `pid-${proc.pid}.core`,
    body: new ExecReadable(
      kube.exec,
      handle,
      ['sh', '-c', CORE_DUMP, 'holdfast-gcore', String(proc.pid), String(stageBound)],
      bounds,
      (outcome) => {
        coreNotes.push(...describeOutcome(`gcore of ${proc.pid}`, outcome, bounds));
        if (outcome.exitCode !== 0 || outcome.truncated || outcome.timedOut)
          notDumped.push(coreFailed(proc, 'gcore', outcome));
        if (outcome.exitCode === CORE_STAGE_BOUND)
          coreNotes.push(`pid ${proc.pid} grew past the stage bound while gdb wrote its core: no core stored`);
        return cutShort(`core of ${proc.pid}`, outcome);
      },
    ),
    contentType: 'application/x-coredump',
    collector: handle.info,
    method:
      'collector exec: gdb gcore (no init files, auto-load and debuginfod off; ptrace attach, all mappings, detach); staged in the collector /tmp within a bound, streamed, deleted',
    notes: coreNotes,
  };
}

/**
 * Only the pages that hold data (resident or swapped, from /proc/<pid>/pagemap), read from /proc/<pid>/mem
 * and streamed as an ELF core by holdfast-memdump in the collector: nothing staged, no registers, read while
 * the process runs. Complete only when the bytes match the size it announced before the first byte.
 */
function residentStream(
  kube: Kube,
  handle: CollectorHandle,
  proc: TargetProcess,
  readable: bigint,
  why: string,
  params: MemoryParams,
  notDumped: NotDumped[],
  signal?: AbortSignal,
): CaptureStream {
  const bounds = {
    maxBytes: params.maxBytesPerProcess + RESIDENT_HEADERS,
    timeoutMs: params.timeoutSecondsPerProcess * 1000,
    signal,
    stallMs: params.stallSeconds * 1000,
    what: `resident dump of ${proc.pid}`,
    onStall: (retiredAs: string) => kube.launcher.retire(kube.exec, handle, retiredAs),
    incomplete: (o: ExecOutcome) => residentIncomplete(proc.pid, o),
  };
  const notes = [
    `pid ${proc.pid} (${proc.comm}) ${proc.exe}: ${why}`,
    `pid-${proc.pid}.resident.core is an ELF core of PT_LOAD segments only (no registers, no notes), read from /proc/${proc.pid}/mem while the process ran: gdb <executable> pid-${proc.pid}.resident.core reads its memory`,
  ];
  return {
    name: `pid-${proc.pid}.resident.core`,
    body: new ExecReadable(
      kube.exec,
      handle,
      [RESIDENT_DUMP_TOOL, String(proc.pid), String(params.maxBytesPerProcess)],
      bounds,
      (outcome) => {
        notes.push(...describeOutcome(`resident dump of ${proc.pid}`, outcome, bounds));
        if (outcome.exitCode !== 0 || outcome.truncated || outcome.timedOut)
          notDumped.push(coreFailed(proc, 'resident dump', outcome));
        const summary = /holdfast-memdump: pid \d+: [^\n]{0,600}/.exec(outcome.stderr)?.[0];
        if (summary) notes.push(summary);
        return cutShort(`resident dump of ${proc.pid}`, outcome);
      },
    ),
    contentType: 'application/x-coredump',
    collector: handle.info,
    method: `collector exec: ${RESIDENT_DUMP_TOOL} (pages present or swapped per /proc/<pid>/pagemap, read from /proc/<pid>/mem, streamed as an ELF core; nothing staged)`,
    notes,
  };
}

/** A dump that did not end complete, for not-dumped.json (its artifact's notes say more). */
function coreFailed(proc: TargetProcess, what: string, outcome: ExecOutcome): NotDumped {
  const how = outcome.truncated
    ? 'stopped at its byte bound'
    : outcome.timedOut
      ? 'stopped at its time bound'
      : `exit ${outcome.exitCode ?? 'unknown'}`;
  return {
    pid: proc.pid,
    comm: proc.comm,
    rssKiB: proc.rssKiB,
    reason: `${what} incomplete or failed (${how}): see its notes`,
  };
}

/** A resident dump that exited 0 is complete only with exactly the bytes it announced. */
export function residentIncomplete(
  pid: number,
  o: Pick<ExecOutcome, 'exitCode' | 'stderr' | 'bytes'>,
): string | undefined {
  if (o.exitCode !== 0) return undefined;
  const announced = /holdfast-memdump-size (\d{1,20})/.exec(o.stderr)?.[1];
  if (announced === undefined) return `resident dump of ${pid}: no size announced: possibly interfered with`;
  if (Number(announced) !== o.bytes)
    return `resident dump of ${pid}: ${o.bytes} bytes instead of the ${announced} announced: possibly interfered with`;
  return undefined;
}

/**
 * executables.json (every process's /proc/<pid>/exe: link, whether deleted, sha256) and each distinct
 * executable once (by hash), read through /proc/<pid>/exe: the file the process runs even when it was
 * deleted on disk. The stored bytes are hashed again as they stream and compared with the listed hash.
 */
async function executableStreams(
  kube: Kube,
  handle: CollectorHandle,
  processes: TargetProcess[],
  maxBytes: number,
  signal?: AbortSignal,
): Promise<CaptureStream[]> {
  const retire = (why: string) => kube.launcher.retire(kube.exec, handle, why);
  const listBounds = {
    maxBytes: 4 * 1024 * 1024,
    timeoutMs: 300_000,
    signal,
    what: 'executables list',
    onStall: retire,
  };
  const listed = await execSmall(
    kube.exec,
    handle,
    ['sh', '-c', EXECUTABLES, 'holdfast-exe', ...processes.map((p) => String(p.pid))],
    listBounds,
  );
  const entries = parseExecutables(listed.stdout.toString('utf8'));
  const distinct = new Map<string, ExecutableEntry>();
  for (const e of entries) if (e.sha256 && !distinct.has(e.sha256)) distinct.set(e.sha256, e);
  const stored: Record<string, string> = {};
  const streams: CaptureStream[] = [];
  const notes = describeOutcome('executables list', listed.outcome, listBounds);
  for (const [sha256, e] of distinct) {
    if ((e.bytes ?? 0) > maxBytes) {
      notes.push(
        `executable ${sha256} of pid ${e.pid} (${e.bytes} bytes) exceeds maxExecutableBytes ${maxBytes}: listed, not stored`,
      );
      continue;
    }
    const name = `exe-${sha256.slice(0, 16)}.bin`;
    stored[sha256] = name;
    streams.push(executableStream(kube, handle, e, sha256, name, maxBytes, signal));
  }
  streams.unshift({
    name: 'executables.json',
    body: jsonBody({
      executables: entries.map((e) => ({ ...e, storedAs: e.sha256 ? (stored[e.sha256] ?? null) : null })),
    }),
    contentType: 'application/json',
    collector: handle.info,
    method: 'collector exec: readlink, sha256sum and wc -c of /proc/<pid>/exe for every process of the target',
    notes,
  });
  return streams;
}

function executableStream(
  kube: Kube,
  handle: CollectorHandle,
  e: ExecutableEntry,
  sha256: string,
  name: string,
  maxBytes: number,
  signal?: AbortSignal,
): CaptureStream {
  const bounds = {
    maxBytes,
    timeoutMs: 300_000,
    signal,
    stallMs: 60_000,
    what: `executable of ${e.pid}`,
    onStall: (why: string) => kube.launcher.retire(kube.exec, handle, why),
  };
  const notes = [
    `the executable of pid ${e.pid} (${e.link}${e.deleted ? ': deleted on disk, recovered through /proc/<pid>/exe' : ''}), sha256 ${sha256} as listed`,
  ];
  const read = new ExecReadable(kube.exec, handle, ['/bin/cat', `/proc/${e.pid}/exe`], bounds, (outcome) => {
    notes.push(...describeOutcome(`executable of ${e.pid}`, outcome, bounds));
    return cutShort(`executable of ${e.pid}`, outcome);
  });
  const hash = crypto.createHash('sha256');
  const check = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      const got = hash.digest('hex');
      if (got !== sha256)
        notes.push(
          `the bytes read hash to ${got}, not the listed ${sha256}: the process ended and its pid was reused, or the file changed`,
        );
      callback();
    },
  });
  return {
    name,
    body: pipeline(read, check, () => undefined),
    contentType: 'application/octet-stream',
    collector: handle.info,
    method: `collector exec: cat /proc/${e.pid}/exe`,
    notes,
  };
}

/** POST to the kubelet checkpoint API through the API server's node proxy; the answer is evidence. */
async function tryCheckpoint(kube: Kube, handle: CollectorHandle, signal?: AbortSignal): Promise<CaptureStream> {
  const pod = await kube.core.readNamespacedPod({ name: handle.pod, namespace: handle.namespace });
  const node = pod.spec?.nodeName ?? '';
  const path = `/api/v1/nodes/${encodeURIComponent(node)}/proxy/checkpoint/${handle.namespace}/${handle.pod}/${handle.targetContainer}?timeout=60`;
  const answer = await postViaApiServer(kube, path, 90_000, signal).catch((err: Error) => ({
    status: 0,
    body: err.message,
  }));
  if (answer.status === 401 || answer.status === 403) {
    throw new PermissionDenied(
      `checkpoint: permission denied (needs create on nodes/proxy): ${answer.body.slice(0, 300)}`,
    );
  }
  const notes: string[] = [];
  let archive: unknown;
  if (answer.status === 200) {
    try {
      archive = (JSON.parse(answer.body) as { items?: unknown[] }).items?.[0];
    } catch {
      archive = undefined;
    }
    notes.push(
      `checkpoint written on node ${node} at ${String(archive)}; fetching archives from the node is not implemented: the gcore capture below is the memory evidence`,
    );
  } else {
    notes.push(
      `checkpoint refused by runtime: HTTP ${answer.status}: ${answer.body.trim().slice(0, 400)}; fell back to gcore`,
    );
  }
  return {
    name: 'checkpoint-attempt.json',
    body: jsonBody({
      request: `POST ${path}`,
      status: answer.status,
      answer: answer.body.slice(0, 64 * 1024),
      archiveOnNode: archive ?? null,
    }),
    contentType: 'application/json',
    collector: handle.info,
    method: 'kubelet checkpoint API via the API server node proxy',
    notes,
  };
}

async function postViaApiServer(
  kube: Kube,
  path: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<{ status: number; body: string }> {
  const server = new URL(kube.kc.getCurrentCluster()!.server);
  const options: https.RequestOptions = {
    method: 'POST',
    hostname: server.hostname,
    port: server.port || 443,
    path,
    timeout: timeoutMs,
    signal,
  };
  await kube.kc.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = https.request(options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < 64 * 1024) {
          chunks.push(chunk);
          size += chunk.length;
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
