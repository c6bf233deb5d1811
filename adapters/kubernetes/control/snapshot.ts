import { pipeline } from 'node:stream/promises';
import type { CollectorInfo, PodRef, TamperFinding } from '../../../common/types';
import { parseInetTable } from '../captures/network-parse';
import { chooseRoot, groupRoots, rootTarArgv } from '../captures/filesystem';
import { cutShort, describeOutcome, ExecReadable, execSmall } from '../collector/exec-stream';
import { listTargetProcesses, MAX_LISTED_PROCESSES } from '../collector/processes';
import { ROOTS } from '../collector/scripts';
import type { Kube } from '../kube';
import type { PodSnapshot } from './diff';
import { tarLister } from './listing';

/** The bounds of one pod's snapshot (the control step's parameters). */
export interface SnapshotBounds {
  maxBytes: number;
  maxEntries: number;
  timeoutSeconds: number;
  stallSeconds: number;
}

export interface TakenSnapshot {
  snapshot: PodSnapshot;
  collector: CollectorInfo;
  notes: string[];
  tamper: TamperFinding[];
  /** The container start the runtime marks are relative to. */
  containerStartedAt?: string;
}

/** Always left out of the tar: virtual filesystems, different in every pod and never an image's files. */
const EXCLUDED = ['/proc', '/sys', '/dev'];
const SOCKET_TABLES = ['tcp', 'tcp6', 'udp', 'udp6'] as const;

/**
 * One pod as the control sample compares it, read by Holdfast's collector in that pod (the same trusted
 * collector, tools and reading path as the filesystem, memory and network steps): its processes, the pod
 * network namespace's TCP/UDP tables, and a listing with SHA-256 of its container root filesystem (GNU tar
 * through the root of the process whose "/" is a filesystem root, without crossing into volumes or bind mounts;
 * hashed in the worker, the archive itself not kept). Bounded in bytes, entries, time and stalls like every capture.
 */
export async function takeSnapshot(
  kube: Kube,
  target: PodRef,
  podIPs: string[],
  incidentId: string,
  bounds: SnapshotBounds,
  signal?: AbortSignal,
): Promise<TakenSnapshot> {
  const handle = await kube.launcher.ensure(target, incidentId, signal);
  const retire = (why: string) => kube.launcher.retire(kube.exec, handle, why);
  const notes = [...handle.notes];
  const incomplete: string[] = [];
  const tamper: TamperFinding[] = [...(handle.tamper ?? [])];

  const { processes, notes: psNotes } = await listTargetProcesses(
    kube.exec,
    handle,
    MAX_LISTED_PROCESSES,
    signal,
    retire,
  );
  notes.push(...psNotes);
  if (psNotes.some((n) => n.startsWith('more than'))) incomplete.push('process list bounded');

  // The collector shares the pod's network namespace: its /proc/net is the pod's (kernel text, not the pod's).
  const sockets: PodSnapshot['sockets'] = [];
  for (const table of SOCKET_TABLES) {
    const tableBounds = {
      maxBytes: 8 * 1024 * 1024,
      timeoutMs: 30_000,
      signal,
      what: `/proc/net/${table}`,
      onStall: retire,
    };
    const out = await execSmall(kube.exec, handle, ['/bin/cat', `/proc/net/${table}`], tableBounds);
    const problems = describeOutcome(`/proc/net/${table}`, out.outcome, tableBounds);
    if (problems.length > 0 && !(table.endsWith('6') && out.outcome.exitCode === 1)) incomplete.push(...problems);
    sockets.push(...parseInetTable(table, out.stdout.toString('utf8')));
  }

  const rootsBounds = { maxBytes: 4 * 1024 * 1024, timeoutMs: 120_000, signal, what: 'root views', onStall: retire };
  const rootsOut = await execSmall(
    kube.exec,
    handle,
    ['sh', '-c', ROOTS, 'holdfast-roots', ...processes.map((p) => String(p.pid))],
    rootsBounds,
  );
  const roots = chooseRoot(groupRoots(rootsOut.stdout.toString('utf8')));
  if (roots.finding) tamper.push(roots.finding);
  notes.push(...roots.notes);
  const init = processes.find((p) => p.pid === roots.chosen?.pids[0]) ?? processes[0]!;
  const root = `/proc/${init.pid}/root`;

  const tarBounds = {
    maxBytes: bounds.maxBytes,
    timeoutMs: bounds.timeoutSeconds * 1000,
    signal,
    stallMs: bounds.stallSeconds * 1000,
    what: 'tar',
    onStall: retire,
  };
  const argv = rootTarArgv(root, EXCLUDED, { includeMounts: false, sparse: false });
  const tarNotes: string[] = [];
  const stream = new ExecReadable(kube.exec, handle, argv, tarBounds, (outcome) => {
    tarNotes.push(...describeOutcome('tar', outcome, tarBounds));
    if (outcome.truncated || outcome.timedOut) incomplete.push(...describeOutcome('tar', outcome, tarBounds));
    if (outcome.exitCode === 2 && outcome.bytes === 0)
      return new Error(`tar failed in the collector: ${outcome.stderr.slice(-500)}`);
    return cutShort('tar', outcome);
  });
  const since = handle.targetStartedAt ? Math.floor(Date.parse(handle.targetStartedAt) / 1000) : undefined;
  if (since === undefined) notes.push('the container start is unknown: no file could be marked as written at runtime');
  const lister = tarLister(since, bounds.maxEntries);
  await pipeline(stream, lister.sink);
  const listing = await lister.listing();
  incomplete.push(...listing.incomplete);
  notes.push(...tarNotes, `files read through ${root} (pid ${init.pid}) of container ${handle.targetContainer}`);

  return {
    snapshot: {
      pod: target.pod,
      podIPs,
      files: listing.entries,
      processes: processes.map((p) => ({
        pid: p.pid,
        ...(p.uid !== undefined ? { uid: p.uid } : {}),
        exe: p.exe,
        cmdline: p.cmdline,
      })),
      sockets: sockets.map(({ protocol, state, local, remote }) => ({
        protocol,
        ...(state ? { state } : {}),
        ...(local ? { local } : {}),
        ...(remote ? { remote } : {}),
      })),
      incomplete,
    },
    collector: handle.info,
    notes,
    tamper,
    ...(handle.targetStartedAt ? { containerStartedAt: handle.targetStartedAt } : {}),
  };
}
