import type * as k8s from '@kubernetes/client-node';
import { NotFound } from '../../../common/failures';
import { describeOutcome, execSmall } from './exec-stream';
import type { CollectorHandle } from './launcher';
import { LIST_PROCESSES } from './scripts';

/** A process of the target container, as /proc showed it to the collector. Strings are the suspect's. */
export interface TargetProcess {
  pid: number;
  ppid?: number;
  uid?: number;
  mountNamespace: string;
  /** The container the process runs in, from its cgroup path (when the path shows it). */
  containerId?: string;
  comm: string;
  exe: string;
  cmdline: string;
  /** Resident set size in KiB (VmRSS), when the kernel shows one (not for kernel threads or zombies). */
  rssKiB?: number;
  /** When it started (ISO 8601 UTC, to the clock tick): boot time + start ticks / tick rate, from /proc. */
  startedAt?: string;
}

/** Boot time + ticks since boot / ticks a second, as ISO 8601; undefined unless all three are sane numbers. */
function startTime(ticks: string | undefined, btime: string | undefined, hz: string | undefined): string | undefined {
  if (!ticks || !btime || !/^\d{1,20}$/.test(ticks) || !/^\d{1,12}$/.test(btime)) return undefined;
  const rate = hz && /^\d{1,5}$/.test(hz) && Number(hz) > 0 ? Number(hz) : 100;
  const ms = Number(btime) * 1000 + Math.round((Number(ticks) * 1000) / rate);
  return Number.isSafeInteger(ms) && ms < Date.UTC(9999, 0) ? new Date(ms).toISOString() : undefined;
}

export function parseProcessList(text: string): TargetProcess[] {
  const processes: TargetProcess[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split('\t');
    if (fields.length < 8 || !/^\d{1,10}$/.test(fields[0]!)) continue;
    const num = (v: string | undefined) => (v && /^\d{1,10}$/.test(v) ? Number(v) : undefined);
    processes.push({
      pid: Number(fields[0]),
      ppid: num(fields[1]),
      uid: num(fields[2]),
      mountNamespace: fields[3]!.slice(0, 64),
      containerId: /^[0-9a-f]{64}$/.test(fields[4]!) ? fields[4] : undefined,
      comm: fields[5]!.trim().slice(0, 64),
      exe: fields[6]!.trim().slice(0, 1024),
      cmdline: fields[7]!.trim().slice(0, 4096),
      rssKiB: num(fields[8]?.trim()),
      startedAt: startTime(fields[9]?.trim(), fields[10]?.trim(), fields[11]?.trim()),
    });
  }
  return processes.sort((a, b) => a.pid - b.pid);
}

/** How many processes the listing reads before it stops (and says so): far above any real container's. */
export const MAX_LISTED_PROCESSES = 16384;

/**
 * The target container's processes (bounded), lowest pid first (its init). They are the processes whose
 * cgroup names the target's container ID; when cgroup paths do not show IDs, every process outside the
 * collector (with a note: in a pod sharing one PID namespace that includes other containers).
 */
export async function listTargetProcesses(
  exec: k8s.Exec,
  handle: CollectorHandle,
  maxProcesses: number,
  signal?: AbortSignal,
  retire?: (retiredAs: string) => Promise<void>,
): Promise<{ processes: TargetProcess[]; notes: string[] }> {
  // With `retire`, a list whose script was killed (a partial list) fails as CollectorInterfered.
  const bounds = {
    maxBytes: 4 * 1024 * 1024,
    timeoutMs: 60_000,
    signal,
    what: 'process list',
    ...(retire ? { onStall: retire } : {}),
  };
  const { stdout, outcome } = await execSmall(
    exec,
    handle,
    ['sh', '-c', LIST_PROCESSES, 'holdfast-ps', String(maxProcesses)],
    bounds,
  );
  const visible = parseProcessList(stdout.toString('utf8'));
  const notes =
    outcome.exitCode === 3
      ? [
          `more than ${maxProcesses} processes visible: only the first ${maxProcesses} by pid (numeric order) were considered`,
        ]
      : describeOutcome('process list', outcome, bounds);
  const byContainer = handle.targetContainerId ? visible.filter((p) => p.containerId === handle.targetContainerId) : [];
  let processes = byContainer;
  if (byContainer.length === 0) {
    processes = visible;
    notes.push(
      `processes not attributable to container ${handle.targetContainer} by cgroup: every process outside the collector is taken as the target's`,
    );
  }
  if (processes.length === 0)
    throw new NotFound(
      `no process of container ${handle.targetContainer} is visible to the collector${notes.length ? ` (${notes.join('; ')})` : ''}`,
    );
  return { processes, notes };
}
