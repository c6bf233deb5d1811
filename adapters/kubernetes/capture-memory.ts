import https from 'node:https';
import { Readable } from 'node:stream';
import type { PodRef } from '../../common/types';
import { PermissionDenied } from '../../common/failures';
import { jsonBody } from '../../evidence/json-body';
import type { CaptureOptions, CaptureStream } from '../../common/ports';
import { cutShort, describeOutcome, dryRunPlan, ExecReadable, execSmall, type CollectorHandle } from './collector';
import type { CollectorDeps } from './collector-deps';
import { CORE_DUMP } from './collector-scripts';
import { listTargetProcesses } from './processes';

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


/**
 * Each process of the target container: its memory map and a core file (gcore, in the collector)
 * that gdb opens with the process's executable. Optionally tries the kubelet checkpoint API first and
 * records its exact answer; the gcore capture runs either way, as the runtime may refuse.
 */
export async function captureMemory(deps: CollectorDeps, target: PodRef, opts: CaptureOptions): Promise<CaptureStream[]> {
  if (opts.dryRun) return dryRunPlan(deps.launcher, target, opts.incidentId, 'memory', opts.params);
  const handle = await deps.launcher.ensure(target, opts.incidentId, opts.signal);
  const streams: CaptureStream[] = [];
  if (opts.params.tryCheckpoint === true) streams.push(await tryCheckpoint(deps, handle, opts.signal));

  const maxProcesses = Number(opts.params.maxProcesses ?? 32);
  const maxBytesPerProcess = Number(opts.params.maxBytesPerProcess ?? 2 * 1024 ** 3);
  const timeoutMs = Number(opts.params.timeoutSecondsPerProcess ?? 600) * 1000;
  const { processes, notes } = await listTargetProcesses(deps.exec, handle, maxProcesses, opts.signal);
  streams.push({
    name: 'processes.json', body: jsonBody({ targetContainer: handle.targetContainer, processes }), contentType: 'application/json',
    collector: handle.info, method: 'collector exec: /proc of the shared PID namespace, processes outside the collector mount namespace',
    notes: [...handle.notes, ...notes],
  });

  for (const proc of processes) {
    const mapsBounds = { maxBytes: 16 * 1024 * 1024, timeoutMs: 30_000, signal: opts.signal };
    const maps = await execSmall(deps.exec, handle, ['/bin/cat', `/proc/${proc.pid}/maps`], mapsBounds);
    const mapsNotes = describeOutcome(`maps of ${proc.pid}`, maps.outcome, mapsBounds);
    streams.push({
      name: `pid-${proc.pid}.maps`, body: Readable.from([maps.stdout]), contentType: 'text/plain', collector: handle.info,
      method: `collector exec: cat /proc/${proc.pid}/maps`, notes: mapsNotes,
    });
    if (maps.outcome.exitCode !== 0) continue; // the process ended: nothing left to dump
    const readable = readableBytes(maps.stdout.toString('utf8'));
    if (readable > BigInt(maxBytesPerProcess)) {
      streams[streams.length - 1]!.notes.push(`pid ${proc.pid} (${proc.comm}): ${readable} readable bytes exceed maxBytesPerProcess ${maxBytesPerProcess}: no core written (raise the bound to capture it)`);
      continue;
    }
    // The core also holds ELF headers and notes: allow some room above the mapped bytes.
    const bounds = { maxBytes: Number(readable) + 64 * 1024 * 1024, timeoutMs, signal: opts.signal };
    const coreNotes = [`pid ${proc.pid} (${proc.comm}) ${proc.exe}: open with gdb <executable> pid-${proc.pid}.core; ${readable} readable bytes mapped`];
    streams.push({
      name: `pid-${proc.pid}.core`,
      body: new ExecReadable(deps.exec, handle, ['sh', '-c', CORE_DUMP, 'holdfast-gcore', String(proc.pid)], bounds, (outcome) => {
        coreNotes.push(...describeOutcome(`gcore of ${proc.pid}`, outcome, bounds));
        return cutShort(`core of ${proc.pid}`, outcome);
      }),
      contentType: 'application/x-coredump',
      collector: handle.info,
      method: 'collector exec: gdb gcore (ptrace attach, all mappings, detach); staged in the collector /tmp, streamed, deleted',
      notes: coreNotes,
    });
  }
  return streams;
}

/** POST to the kubelet checkpoint API through the API server's node proxy; the answer is evidence. */
async function tryCheckpoint(deps: CollectorDeps, handle: CollectorHandle, signal?: AbortSignal): Promise<CaptureStream> {
  const pod = await deps.core.readNamespacedPod({ name: handle.pod, namespace: handle.namespace });
  const node = pod.spec?.nodeName ?? '';
  const path = `/api/v1/nodes/${encodeURIComponent(node)}/proxy/checkpoint/${handle.namespace}/${handle.pod}/${handle.targetContainer}?timeout=60`;
  const answer = await postViaApiServer(deps, path, 90_000, signal).catch((err: Error) => ({ status: 0, body: err.message }));
  if (answer.status === 401 || answer.status === 403) {
    throw new PermissionDenied(`checkpoint: permission denied (needs create on nodes/proxy): ${answer.body.slice(0, 300)}`);
  }
  const notes: string[] = [];
  let archive: unknown;
  if (answer.status === 200) {
    try { archive = (JSON.parse(answer.body) as { items?: unknown[] }).items?.[0]; } catch { archive = undefined; }
    notes.push(`checkpoint written on node ${node} at ${String(archive)}; fetching archives from the node is not implemented: the gcore capture below is the memory evidence`);
  } else {
    notes.push(`checkpoint refused by runtime: HTTP ${answer.status}: ${answer.body.trim().slice(0, 400)}; fell back to gcore`);
  }
  return {
    name: 'checkpoint-attempt.json',
    body: jsonBody({ request: `POST ${path}`, status: answer.status, answer: answer.body.slice(0, 64 * 1024), archiveOnNode: archive ?? null }),
    contentType: 'application/json', collector: handle.info, method: 'kubelet checkpoint API via the API server node proxy', notes,
  };
}

async function postViaApiServer(deps: CollectorDeps, path: string, timeoutMs: number, signal?: AbortSignal): Promise<{ status: number; body: string }> {
  const server = new URL(deps.kc.getCurrentCluster()!.server);
  const options: https.RequestOptions = { method: 'POST', hostname: server.hostname, port: server.port || 443, path, timeout: timeoutMs, signal };
  await deps.kc.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = https.request(options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => { if (size < 64 * 1024) { chunks.push(chunk); size += chunk.length; } });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
