import { pipeline, Readable } from 'node:stream';
import type { PodRef } from '../../common/types';
import type { CaptureOptions, CaptureStream } from '../../common/ports';
import { ChangedFilesScanner } from './changed-files';
import { cutShort, describeOutcome, dryRunPlan, ExecReadable, execSmall } from './collector';
import type { CollectorDeps } from './collector-deps';
import { listTargetProcesses } from './processes';

const ALWAYS_EXCLUDED = ['/proc', '/sys', '/dev'];

/** Exclusion paths come from the playbook: absolute, no "..", no glob characters. */
function tarExclude(path: string): string {
  if (!/^\/[A-Za-z0-9._/-]*$/.test(path) || path.split('/').includes('..')) throw new Error(`invalid exclude path ${JSON.stringify(path)}`);
  return `--exclude=.${path.replace(/\/+$/, '')}`;
}

/**
 * The target container's root filesystem as a POSIX tar, read by GNU tar in the collector through
 * /proc/<init pid>/root, plus the list of files the container changed (from the same stream) and the
 * container's mount table (what --one-file-system left out: volumes, secrets, bind mounts).
 */
export async function captureFilesystem(deps: CollectorDeps, target: PodRef, opts: CaptureOptions): Promise<CaptureStream[]> {
  if (opts.dryRun) return dryRunPlan(deps.launcher, target, opts.incidentId, 'filesystem', opts.params);
  const handle = await deps.launcher.ensure(target, opts.incidentId, opts.signal);
  const { processes, notes: psNotes } = await listTargetProcesses(deps.exec, handle, 1024, opts.signal);
  const init = processes[0]!;
  const maxBytes = Number(opts.params.maxBytes ?? 4 * 1024 ** 3);
  const timeoutMs = Number(opts.params.timeoutSeconds ?? 1500) * 1000;
  const includeMounts = opts.params.includeMounts === true;
  const excludes = [...ALWAYS_EXCLUDED, ...((opts.params.excludes as string[] | undefined) ?? [])];
  const root = `/proc/${init.pid}/root`;

  const mountsBounds = { maxBytes: 1024 * 1024, timeoutMs: 30_000, signal: opts.signal };
  const mounts = await execSmall(deps.exec, handle, ['/bin/cat', `/proc/${init.pid}/mountinfo`], mountsBounds);

  const argv = [
    '/usr/bin/tar', '-C', root, '--format=posix', '--numeric-owner', '--sparse', '--ignore-failed-read',
    '--warning=no-file-changed', '--warning=no-file-removed', '--anchored',
    ...(includeMounts ? [] : ['--one-file-system']),
    ...excludes.map(tarExclude),
    '-cf', '-', '.',
  ];
  const bounds = { maxBytes, timeoutMs, signal: opts.signal };
  const tarNotes = [...handle.notes, ...psNotes, `read through ${root} (pid ${init.pid}, ${init.comm}) of container ${handle.targetContainer}`,
    `excluded: ${excludes.join(', ')}${includeMounts ? '' : '; other filesystems (volumes, secrets, bind mounts) are not crossed: see mountinfo.txt'}`];
  const tarStream = new ExecReadable(deps.exec, handle, argv, bounds, (outcome) => {
    // GNU tar: 1 = some files changed or vanished while read (noted, archive valid); 2 = fatal.
    tarNotes.push(...describeOutcome('tar', outcome, bounds));
    if (outcome.exitCode === 2 && outcome.bytes === 0) return new Error(`tar failed in the collector: ${outcome.stderr.slice(-500)}`);
    return cutShort('tar', outcome);
  });
  const scanner = new ChangedFilesScanner(handle.targetStartedAt, Number(opts.params.maxChangedEntries ?? 100_000));
  const body = pipeline(tarStream, scanner.tee(), () => undefined);

  const method = `collector exec: GNU tar --format=posix of ${root}`;
  return [
    {
      name: 'mountinfo.txt', body: Readable.from([mounts.stdout]), contentType: 'text/plain', collector: handle.info,
      method: `collector exec: cat /proc/${init.pid}/mountinfo`, notes: describeOutcome('mountinfo', mounts.outcome, mountsBounds),
    },
    { name: 'rootfs.tar', body, contentType: 'application/x-tar', collector: handle.info, method, notes: tarNotes },
    {
      name: 'changed-files.json', body: scanner.reportStream(), contentType: 'application/json', collector: handle.info,
      method: 'parsed from rootfs.tar while it streamed: entries whose ctime is at or after the container start',
      notes: ['deletions of image files are not visible in a tar of the merged filesystem'],
    },
  ];
}
