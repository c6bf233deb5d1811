import type * as k8s from '@kubernetes/client-node';
import { NotFound } from '../errors';
import { LIST_PROCESSES } from './collector-scripts';
import { describeOutcome, execSmall, type CollectorHandle } from './collector';

/** A process of the target container, as /proc showed it to the collector. Strings are the suspect's. */
export interface TargetProcess {
  pid: number;
  ppid?: number;
  uid?: number;
  mountNamespace: string;
  comm: string;
  exe: string;
  cmdline: string;
}

export function parseProcessList(text: string): TargetProcess[] {
  const processes: TargetProcess[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split('\t');
    if (fields.length < 7 || !/^\d{1,10}$/.test(fields[0]!)) continue;
    const num = (v: string | undefined) => (v && /^\d{1,10}$/.test(v) ? Number(v) : undefined);
    processes.push({
      pid: Number(fields[0]),
      ppid: num(fields[1]),
      uid: num(fields[2]),
      mountNamespace: fields[3]!.slice(0, 64),
      comm: fields[4]!.trim().slice(0, 64),
      exe: fields[5]!.trim().slice(0, 1024),
      cmdline: fields.slice(6).join(' ').trim().slice(0, 4096),
    });
  }
  return processes.sort((a, b) => a.pid - b.pid);
}

/** Lists the target's processes (bounded); the lowest pid is the container's init. */
export async function listTargetProcesses(exec: k8s.Exec, handle: CollectorHandle, maxProcesses: number, signal?: AbortSignal): Promise<{ processes: TargetProcess[]; notes: string[] }> {
  const bounds = { maxBytes: 4 * 1024 * 1024, timeoutMs: 60_000, signal };
  const { stdout, outcome } = await execSmall(exec, handle, ['sh', '-c', LIST_PROCESSES, 'holdfast-ps', String(maxProcesses)], bounds);
  const processes = parseProcessList(stdout.toString('utf8'));
  const notes = outcome.exitCode === 3 ? [`more than ${maxProcesses} processes in the target: only the first ${maxProcesses} (by pid) are listed`] : describeOutcome('process list', outcome, bounds);
  if (processes.length === 0) throw new NotFound(`no process of container ${handle.targetContainer} is visible to the collector${notes.length ? ` (${notes.join('; ')})` : ''}`);
  return { processes, notes };
}
