import https from 'node:https';
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { PermissionDenied } from '../../../common/failures';
import { jsonBody } from '../../../evidence/json-body';
import type { CaptureStream } from '../../../common/ports';
import { dryRunPlan } from '../collector/dry-run';
import { cutShort, describeOutcome, ExecReadable, execSmall } from '../collector/exec-stream';
import type { CollectorHandle } from '../collector/launcher';
import { listTargetProcesses } from '../collector/processes';
import { COLLECTOR_RBAC } from '../collector/rbac';
import { CORE_DUMP, CORE_INCOMPLETE } from '../collector/scripts';
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

/**
 * Each process of the target container: its memory map and a core file (gcore, in the collector)
 * that gdb opens with the process's executable. Optionally tries the kubelet checkpoint API first and
 * records its exact answer; the gcore capture runs either way, as the runtime may refuse.
 */
export const memoryCapture = defineCapture({
  name: 'memory',
  description:
    'Each process of the target container: its memory maps and readable regions as a core file gdb can open, streamed and hashed. ' +
    'Optionally tries the kubelet checkpoint API first and records its exact refusal.',
  params: Type.Object({
    maxBytesPerProcess: Type.Integer({ minimum: 1, default: 2 * 1024 ** 3 }),
    maxProcesses: Type.Integer({ minimum: 1, maximum: 256, default: 32 }),
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
    const streams: CaptureStream[] = [];
    if (params.tryCheckpoint) streams.push(await tryCheckpoint(kube, handle, run.signal));

    const { processes, notes } = await listTargetProcesses(kube.exec, handle, params.maxProcesses, run.signal, (why) =>
      kube.launcher.retire(kube.exec, handle, why),
    );
    streams.push({
      name: 'processes.json',
      body: jsonBody({ targetContainer: handle.targetContainer, processes }),
      contentType: 'application/json',
      collector: handle.info,
      method: 'collector exec: /proc of the shared PID namespace, processes outside the collector mount namespace',
      notes: [...handle.notes, ...notes],
      tamper: [...(handle.tamper ?? [])],
    });

    for (const proc of processes) {
      // A killed cat (exit 137) must not pass for a process that ended: it fails as CollectorInterfered.
      const mapsBounds = {
        maxBytes: 16 * 1024 * 1024,
        timeoutMs: 30_000,
        signal: run.signal,
        what: `maps of ${proc.pid}`,
        onStall: (why: string) => kube.launcher.retire(kube.exec, handle, why),
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
      if (maps.outcome.exitCode !== 0) continue; // the process ended: nothing left to dump
      const readable = readableBytes(maps.stdout.toString('utf8'));
      if (readable > BigInt(params.maxBytesPerProcess)) {
        streams[streams.length - 1]!.notes.push(
          `pid ${proc.pid} (${proc.comm}): ${readable} readable bytes exceed maxBytesPerProcess ${params.maxBytesPerProcess}: no core written (raise the bound to capture it)`,
        );
        continue;
      }
      // The core also holds ELF headers and notes: allow some room above the mapped bytes.
      const bounds = {
        maxBytes: Number(readable) + 64 * 1024 * 1024,
        timeoutMs: params.timeoutSecondsPerProcess * 1000,
        signal: run.signal,
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
      streams.push({
        name: `pid-${proc.pid}.core`,
        body: new ExecReadable(
          kube.exec,
          handle,
          ['sh', '-c', CORE_DUMP, 'holdfast-gcore', String(proc.pid)],
          bounds,
          (outcome) => {
            coreNotes.push(...describeOutcome(`gcore of ${proc.pid}`, outcome, bounds));
            return cutShort(`core of ${proc.pid}`, outcome);
          },
        ),
        contentType: 'application/x-coredump',
        collector: handle.info,
        method:
          'collector exec: gdb gcore (ptrace attach, all mappings, detach); staged in the collector /tmp, streamed, deleted',
        notes: coreNotes,
      });
    }
    return streams;
  },
});

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
