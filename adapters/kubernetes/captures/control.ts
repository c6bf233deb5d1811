import { Type } from '@sinclair/typebox';
import { Unsupported } from '../../../common/failures';
import type { CaptureStream } from '../../../common/ports';
import type { ControlSummary, PodRef } from '../../../common/types';
import { HOLDFAST_VERSION } from '../../../common/version';
import { jsonBody } from '../../../evidence/json-body';
import { dryRunPlan } from '../collector/dry-run';
import { COLLECTOR_RBAC } from '../collector/rbac';
import { diffSnapshots } from '../control/diff';
import { chooseControl, listCandidates, templateOf, type ControlChoice } from '../control/sibling';
import { takeSnapshot, type TakenSnapshot } from '../control/snapshot';
import { readPinnedPod, readPod } from '../pods';
import { defineCapture } from '../units';

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

const worker = { name: 'holdfast-worker', version: HOLDFAST_VERSION };

function skipped(reason: string, notes: string[], record: Record<string, unknown>): CaptureStream[] {
  const control: ControlSummary = { summary: `control sample skipped: ${reason}`, skipped: true };
  return [
    {
      name: 'control-skipped.json',
      body: jsonBody({ skipped: true, reason, ...record, notes }),
      contentType: 'application/json',
      method: 'kubernetes-api: the suspect, its controller and the pods of its template',
      collector: worker,
      notes: [control.summary, ...notes],
      control,
    },
  ];
}

const snapshotRecord = (taken: TakenSnapshot) => ({
  pod: taken.snapshot.pod,
  podIPs: taken.snapshot.podIPs,
  containerStartedAt: taken.containerStartedAt,
  incomplete: taken.snapshot.incomplete,
  processes: taken.snapshot.processes,
  sockets: taken.snapshot.sockets,
  files: taken.snapshot.files,
});

/**
 * The control sample: the suspect compared with a clean pod of the same template and image digests (preserve's
 * replacement, or another ready sibling), both read the same way by Holdfast's collector: files with their
 * SHA-256, processes, sockets (no memory). `diff.json` lists what only the suspect has or has differently; its
 * summary (counts only) is what the status and pages show first. Skipped, with the reason, for a pod without a
 * controller, without a sibling, or whose siblings run other image digests. The sibling only gets the collector
 * (an ephemeral container): it is never relabelled, annotated or contained.
 */
export const controlCapture = defineCapture({
  name: 'control',
  description:
    'Compares the suspect with a clean pod of the same template and image digests (the replacement or a sibling): ' +
    'files (SHA-256), processes and sockets of both, and a diff of what only the suspect has.',
  params: Type.Object({
    waitSeconds: Type.Integer({
      minimum: 0,
      maximum: 600,
      default: 60,
      description:
        'How long to wait for a control to become ready (the replacement preserve caused is usually still starting).',
    }),
    maxBytes: Type.Integer({
      minimum: 1024,
      default: 2 * 1024 ** 3,
      description:
        "Bytes of each pod's root filesystem read at most (hashed, not kept); past it the diff says it is incomplete.",
    }),
    maxEntries: Type.Integer({ minimum: 100, maximum: 1_000_000, default: 200_000 }),
    maxListed: Type.Integer({
      minimum: 10,
      maximum: 100_000,
      default: 500,
      description: 'Entries kept per list of the diff (the counts are always complete).',
    }),
    timeoutSeconds: Type.Integer({ minimum: 10, maximum: 3600, default: 600 }),
    stallSeconds: Type.Integer({ minimum: 5, maximum: 3600, default: 60 }),
  }),
  example: { waitSeconds: 120, maxBytes: 1073741824 },
  rbac: [
    ...COLLECTOR_RBAC,
    // the suspect's ReplicaSet, and the pods of its template (by its selector, then by owner UID)
    { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['get'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
  ],
  timeouts: { startToCloseSeconds: 1800, heartbeatSeconds: 60, maximumAttempts: 3 },
  async capture(kube, target, params, run): Promise<CaptureStream[]> {
    if (run.dryRun) return dryRunPlan(kube.launcher, target, run.incidentId, 'control', params);
    const suspect = await readPinnedPod(kube, target, run.pod);
    const template = await templateOf(kube, suspect);
    if ('none' in template) return skipped(template.none, [], { suspect: target.pod });

    const deadline = Date.now() + params.waitSeconds * 1000;
    let choice: ControlChoice;
    for (;;) {
      choice = chooseControl(suspect, template, await listCandidates(kube, target.namespace, template));
      const better = 'pod' in choice ? choice.newerStarting : choice.waitFor;
      if (!better || Date.now() >= deadline) break;
      await sleep(2000, run.signal);
      run.signal?.throwIfAborted();
    }
    const { kind, name, hashLabel, hash, source } = template;
    const templateRecord = { kind, name, uid: template.uid, [hashLabel]: hash, from: source };
    if (!('pod' in choice))
      return skipped(choice.skipped, choice.notes, { suspect: target.pod, template: templateRecord });

    const chosen = choice.pod;
    const controlName = chosen.metadata!.name!;
    const controlUid = chosen.metadata!.uid!;
    const controlRef: PodRef = { ...target, pod: controlName };
    const ips = (pod: typeof suspect) =>
      (pod.status?.podIPs ?? []).map((p) => p.ip).filter((ip) => typeof ip === 'string');
    const bounds = {
      maxBytes: params.maxBytes,
      maxEntries: params.maxEntries,
      timeoutSeconds: params.timeoutSeconds,
      stallSeconds: params.stallSeconds,
    };
    const suspectTaken = await takeSnapshot(kube, target, ips(suspect), run.incidentId, bounds, run.signal);
    const controlTaken = await takeSnapshot(kube, controlRef, ips(chosen), run.incidentId, bounds, run.signal);
    // The pod compared must still be the one chosen (a name reused by another pod would compare a stranger).
    const after = await readPod(kube, controlRef);
    if (after.metadata?.uid !== controlUid)
      throw new Unsupported(`the control ${controlName} was replaced while it was read (uid ${controlUid}): retrying`);

    const diff = diffSnapshots(suspectTaken.snapshot, controlTaken.snapshot, {
      maxListed: params.maxListed,
      maxInput: params.maxEntries,
    });
    const control: ControlSummary = {
      summary: diff.summary,
      control: { pod: controlName, uid: controlUid },
      counts: diff.counts,
    };
    const line = `control sample ${controlName}: ${diff.summary}`;
    const createdAt = chosen.metadata?.creationTimestamp
      ? new Date(chosen.metadata.creationTimestamp).toISOString()
      : undefined;
    const choiceRecord = {
      suspect: { pod: target.pod, uid: suspect.metadata?.uid },
      control: { pod: controlName, uid: controlUid, node: chosen.spec?.nodeName, createdAt },
      template: templateRecord,
      images: (chosen.status?.containerStatuses ?? []).map((s) => ({ container: s.name, imageID: s.imageID })),
      why: 'same controller (UID) and template revision, running and ready, not quarantined or preserved by any incident, same image digests; the newest such pod',
      notes: choice.notes,
    };
    const method = (who: string) =>
      `collector exec in ${who}: process list, /proc/net/{tcp,tcp6,udp,udp6}, GNU tar --format=posix of the container root hashed in the worker (not kept)`;
    return [
      {
        name: 'diff.json',
        body: jsonBody({ suspect: target.pod, control: controlName, ...diff }),
        contentType: 'application/json',
        method: 'compared in the worker: suspect-snapshot.json against control-snapshot.json',
        collector: worker,
        notes: [line, ...diff.bounded.slice(0, 20)],
        control,
      },
      {
        name: 'control-pod.json',
        body: jsonBody(choiceRecord),
        contentType: 'application/json',
        method: "kubernetes-api: the pods of the suspect's template, chosen by Holdfast",
        collector: worker,
        notes: choice.notes,
      },
      {
        name: 'suspect-snapshot.json',
        body: jsonBody(snapshotRecord(suspectTaken)),
        contentType: 'application/json',
        method: method(`suspect ${target.pod}`),
        collector: suspectTaken.collector,
        notes: suspectTaken.notes,
        tamper: suspectTaken.tamper,
      },
      {
        name: 'control-snapshot.json',
        body: jsonBody(snapshotRecord(controlTaken)),
        contentType: 'application/json',
        method: method(`control ${controlName}`),
        collector: controlTaken.collector,
        notes: controlTaken.notes,
        tamper: controlTaken.tamper.map((t) => ({ ...t, detail: `control ${controlName}: ${t.detail}`.slice(0, 300) })),
      },
    ];
  },
});
