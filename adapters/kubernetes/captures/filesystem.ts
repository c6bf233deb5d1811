import { pipeline, Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { CaptureStream } from '../../../common/ports';
import { dryRunPlan } from '../collector/dry-run';
import { cutShort, describeOutcome, ExecReadable, execSmall } from '../collector/exec-stream';
import { listTargetProcesses } from '../collector/processes';
import { COLLECTOR_RBAC } from '../collector/rbac';
import { defineCapture } from '../units';
import { ChangedFilesScanner } from './changed-files';

const ALWAYS_EXCLUDED = ['/proc', '/sys', '/dev'];

/** Exclusion paths come from the playbook: absolute, no "..", no glob characters. */
function tarExclude(path: string): string {
  if (!/^\/[A-Za-z0-9._/-]*$/.test(path) || path.split('/').includes('..'))
    throw new Error(`invalid exclude path ${JSON.stringify(path)}`);
  return `--exclude=.${path.replace(/\/+$/, '')}`;
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
    const { processes, notes: psNotes } = await listTargetProcesses(kube.exec, handle, 1024, run.signal, (why) =>
      kube.launcher.retire(kube.exec, handle, why),
    );
    const init = processes[0]!;
    const excludes = [...ALWAYS_EXCLUDED, ...params.excludes];
    const root = `/proc/${init.pid}/root`;

    const mountsBounds = {
      maxBytes: 1024 * 1024,
      timeoutMs: 30_000,
      signal: run.signal,
      what: 'mountinfo',
      onStall: (why: string) => kube.launcher.retire(kube.exec, handle, why),
    };
    const mounts = await execSmall(kube.exec, handle, ['/bin/cat', `/proc/${init.pid}/mountinfo`], mountsBounds);

    const argv = [
      '/usr/bin/tar',
      '-C',
      root,
      '--format=posix',
      '--numeric-owner',
      '--sparse',
      '--ignore-failed-read',
      '--warning=no-file-changed',
      '--warning=no-file-removed',
      '--anchored',
      ...(params.includeMounts ? [] : ['--one-file-system']),
      ...excludes.map(tarExclude),
      '-cf',
      '-',
      '.',
    ];
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
        tamper: [...(handle.tamper ?? [])],
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
