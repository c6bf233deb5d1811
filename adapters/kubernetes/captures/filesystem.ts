import { pipeline, Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { CaptureStream } from '../../../common/ports';
import { dryRunPlan } from '../collector/dry-run';
import { cutShort, describeOutcome, ExecReadable, execSmall } from '../collector/exec-stream';
import { listTargetProcesses, MAX_LISTED_PROCESSES } from '../collector/processes';
import { COLLECTOR_RBAC } from '../collector/rbac';
import { ROOTS } from '../collector/scripts';
import { jsonBody } from '../../../evidence/json-body';
import { defineCapture } from '../units';
import { ChangedFilesScanner } from './changed-files';

const ALWAYS_EXCLUDED = ['/proc', '/sys', '/dev'];

/** A root some processes of the container see: /proc/<pid>/root's device:inode and their mountinfo. */
export interface RootGroup {
  /** device:inode of "/" as these processes see it. */
  root: string;
  /** sha256 of their /proc/<pid>/mountinfo (paths in it are relative to their root). */
  mountinfoSha256: string;
  /**
   * The root field of the mount at their "/" in mountinfo ("/" for a filesystem's root), or "-" when no mount
   * is at their "/": a chroot into a directory, whose mount lies above the new root and is not shown.
   */
  mountAtRoot: string;
  pids: number[];
}

/** ROOTS lines → one group per distinct view (device:inode, mountinfo); unreadable pids (ended) left out. */
export function groupRoots(text: string): RootGroup[] {
  const groups = new Map<string, RootGroup>();
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    if (f.length < 4 || !/^\d{1,10}$/.test(f[0]!) || !/^\d{1,20}:\d{1,20}$/.test(f[1]!)) continue;
    if (!/^[0-9a-f]{64}$/.test(f[2]!)) continue;
    const key = `${f[1]} ${f[2]}`;
    const group = groups.get(key) ?? {
      root: f[1]!,
      mountinfoSha256: f[2]!,
      mountAtRoot: f.slice(3).join(' ').trim().slice(0, 256),
      pids: [],
    };
    group.pids.push(Number(f[0]));
    groups.set(key, group);
  }
  const list = [...groups.values()];
  for (const g of list) g.pids.sort((a, b) => a - b);
  return list.sort((a, b) => a.pids[0]! - b.pids[0]!);
}

/**
 * The root to read: the view of the lowest pid among those whose "/" is a mount's root (not chrooted into a
 * directory), else the lowest pid's; more than one view is a tamper finding that names each.
 */
export function chooseRoot(groups: RootGroup[]): {
  chosen?: RootGroup;
  finding?: { kind: 'root-inconsistent'; detail: string };
  notes: string[];
} {
  if (groups.length === 0) return { notes: [] };
  const real = groups.filter((g) => g.mountAtRoot === '/');
  const chosen = real[0] ?? groups[0]!;
  if (groups.length === 1) return { chosen, notes: [] };
  const name = (g: RootGroup) =>
    `pid ${g.pids.slice(0, 4).join(',')}${g.pids.length > 4 ? `,… (${g.pids.length})` : ''} see root ${g.root}${g.mountAtRoot === '/' ? '' : ' (no mount at their /: chrooted into a directory)'}`;
  const detail = `processes of the container see ${groups.length} different roots: ${groups.map(name).join('; ')}; the filesystem is read through pid ${chosen.pids[0]}${real.length === 0 ? ' although no process shows an unchrooted root' : ''}`;
  const notes = [
    `root views differ: ${groups.map(name).join('; ')} (all listed in roots.json)`,
    real.length === 0
      ? `no process of the container sees a mount at its "/" (every one is chrooted): rootfs.tar is the view of pid ${chosen.pids[0]}, not necessarily the container's root`
      : `rootfs.tar is read through pid ${chosen.pids[0]}, whose "/" is a filesystem root (not a chroot into a directory)`,
  ];
  return { chosen, finding: { kind: 'root-inconsistent', detail: detail.slice(0, 300) }, notes };
}

/** Exclusion paths come from the playbook: absolute, no "..", no glob characters. */
function tarExclude(path: string): string {
  if (!/^\/[A-Za-z0-9._/-]*$/.test(path) || path.split('/').includes('..'))
    throw new Error(`invalid exclude path ${JSON.stringify(path)}`);
  return `--exclude=.${path.replace(/\/+$/, '')}`;
}

/**
 * GNU tar of a container root (`/proc/<pid>/root`) to stdout: POSIX format (ctime in pax headers), numeric
 * owners, files that change or vanish while read noted rather than fatal, and by default without crossing into
 * other filesystems. `sparse`: holes stored as such (smaller archive; the control sample hashes real content).
 */
export function rootTarArgv(
  root: string,
  excludes: string[],
  opts: { includeMounts: boolean; sparse: boolean },
): string[] {
  return [
    '/usr/bin/tar',
    '-C',
    root,
    '--format=posix',
    '--numeric-owner',
    ...(opts.sparse ? ['--sparse'] : []),
    '--ignore-failed-read',
    '--warning=no-file-changed',
    '--warning=no-file-removed',
    '--anchored',
    ...(opts.includeMounts ? [] : ['--one-file-system']),
    ...excludes.map(tarExclude),
    '-cf',
    '-',
    '.',
  ];
}

/**
 * The target container's root filesystem as a POSIX tar, read by GNU tar in the collector through
 * /proc/<init pid>/root, plus the list of files the container changed (from the same stream) and the
 * container's mount table (what --one-file-system left out: volumes, secrets, bind mounts).
 */
export const filesystemCapture = defineCapture({
  name: 'filesystem',
  description:
    "The target container's root filesystem as a tar stream (without /proc, /sys, /dev) read by the trusted collector, " +
    'plus the list of files changed or added since the image.',
  params: Type.Object({
    maxBytes: Type.Integer({
      minimum: 1,
      default: 4 * 1024 ** 3,
      description: 'Stop (and say so in the manifest) past this many bytes.',
    }),
    excludes: Type.Array(Type.String({ pattern: '^/[A-Za-z0-9._/-]*$', maxLength: 256 }), {
      maxItems: 32,
      default: [],
    }),
    includeMounts: Type.Boolean({
      default: false,
      description:
        'Also cross into volumes, secrets and bind mounts (the default stays on the container root filesystem).',
    }),
    timeoutSeconds: Type.Integer({ minimum: 10, maximum: 7200, default: 1500 }),
    maxChangedEntries: Type.Integer({ minimum: 1, maximum: 1000000, default: 100000 }),
    stallSeconds: Type.Integer({
      minimum: 5,
      maximum: 3600,
      default: 60,
      description:
        "Fail as CollectorStalled (tamper note; retried once on a fresh collector) when tar's output does not advance this long.",
    }),
  }),
  example: { maxBytes: 1073741824, excludes: ['/var/cache'] },
  rbac: COLLECTOR_RBAC,
  timeouts: { startToCloseSeconds: 1800, heartbeatSeconds: 60, maximumAttempts: 3 },
  async capture(kube, target, params, run): Promise<CaptureStream[]> {
    if (run.dryRun) return dryRunPlan(kube.launcher, target, run.incidentId, 'filesystem', params);
    const handle = await kube.launcher.ensure(target, run.incidentId, run.signal);
    const { processes, notes: psNotes } = await listTargetProcesses(
      kube.exec,
      handle,
      MAX_LISTED_PROCESSES,
      run.signal,
      (why) => kube.launcher.retire(kube.exec, handle, why),
    );
    // Every process's view of "/" before reading one: a process that chrooted into a decoy tree (PID 1 can)
    // must not decide what is read, and disagreement is itself a finding.
    const rootsBounds = {
      maxBytes: 4 * 1024 * 1024,
      timeoutMs: 120_000,
      signal: run.signal,
      what: 'root views',
      onStall: (why: string) => kube.launcher.retire(kube.exec, handle, why),
    };
    const rootsOut = await execSmall(
      kube.exec,
      handle,
      ['sh', '-c', ROOTS, 'holdfast-roots', ...processes.map((p) => String(p.pid))],
      rootsBounds,
    );
    const groups = groupRoots(rootsOut.stdout.toString('utf8'));
    const roots = chooseRoot(groups);
    const init = processes.find((p) => p.pid === roots.chosen?.pids[0]) ?? processes[0]!;
    const excludes = [...ALWAYS_EXCLUDED, ...params.excludes];
    const root = `/proc/${init.pid}/root`;
    const rootTamper = roots.finding ? [roots.finding] : [];

    const mountsBounds = {
      maxBytes: 1024 * 1024,
      timeoutMs: 30_000,
      signal: run.signal,
      what: 'mountinfo',
      onStall: (why: string) => kube.launcher.retire(kube.exec, handle, why),
    };
    const mounts = await execSmall(kube.exec, handle, ['/bin/cat', `/proc/${init.pid}/mountinfo`], mountsBounds);

    const argv = rootTarArgv(root, excludes, { includeMounts: params.includeMounts, sparse: true });
    const bounds = {
      maxBytes: params.maxBytes,
      timeoutMs: params.timeoutSeconds * 1000,
      signal: run.signal,
      // tar writes as it reads: output that stops advancing means tar was stopped, not that it is busy.
      stallMs: params.stallSeconds * 1000,
      what: 'tar',
      onStall: (why: string) => kube.launcher.retire(kube.exec, handle, why),
    };
    const tarNotes = [
      ...handle.notes,
      ...psNotes,
      ...roots.notes,
      `read through ${root} (pid ${init.pid}, ${init.comm}) of container ${handle.targetContainer}`,
      `excluded: ${excludes.join(', ')}${params.includeMounts ? '' : '; other filesystems (volumes, secrets, bind mounts) are not crossed: see mountinfo.txt'}`,
    ];
    const tarStream = new ExecReadable(kube.exec, handle, argv, bounds, (outcome) => {
      // GNU tar: 1 = some files changed or vanished while read (noted, archive valid); 2 = fatal.
      tarNotes.push(...describeOutcome('tar', outcome, bounds));
      if (outcome.exitCode === 2 && outcome.bytes === 0)
        return new Error(`tar failed in the collector: ${outcome.stderr.slice(-500)}`);
      return cutShort('tar', outcome);
    });
    const scanner = new ChangedFilesScanner(handle.targetStartedAt, params.maxChangedEntries);
    const body = pipeline(tarStream, scanner.tee(), () => undefined);

    const method = `collector exec: GNU tar --format=posix of ${root}`;
    return [
      {
        name: 'roots.json',
        body: jsonBody({ readThroughPid: init.pid, roots: groups }),
        contentType: 'application/json',
        collector: handle.info,
        method:
          'collector exec: stat -L of /proc/<pid>/root/ and sha256 of /proc/<pid>/mountinfo for every process of the container',
        notes: [...describeOutcome('root views', rootsOut.outcome, rootsBounds), ...roots.notes],
        tamper: rootTamper,
      },
      {
        name: 'mountinfo.txt',
        body: Readable.from([mounts.stdout]),
        contentType: 'text/plain',
        collector: handle.info,
        method: `collector exec: cat /proc/${init.pid}/mountinfo`,
        notes: describeOutcome('mountinfo', mounts.outcome, mountsBounds),
      },
      {
        name: 'rootfs.tar',
        body,
        contentType: 'application/x-tar',
        collector: handle.info,
        method,
        notes: tarNotes,
        tamper: [...(handle.tamper ?? []), ...rootTamper],
      },
      {
        name: 'changed-files.json',
        body: scanner.reportStream(),
        contentType: 'application/json',
        collector: handle.info,
        method: 'parsed from rootfs.tar while it streamed: entries whose ctime is at or after the container start',
        notes: ['deletions of image files are not visible in a tar of the merged filesystem'],
      },
    ];
  },
});
