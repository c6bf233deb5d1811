import type { ActionUnit } from '../../adapters/kubernetes/units';
import { isFailure, FailureType, StepNotApplicable, TargetNotFound } from '../../common/failures';
import type { CaptureStream, ChangeTarget, ContainmentCheck, MutationOptions } from '../../common/ports';
import type { ContainmentVerification, PodPin } from '../../common/types';
import type { StepResult } from '../contract';
import { HOLDFAST_VERSION } from '../../common/version';
import { jsonCapture, storeCaptures } from './store';
import { podOf, type StepContext, type StepDefinition } from './types';

/**
 * What a change acts on: the pod, or for a node action the node the pod really runs on (its spec.nodeName,
 * read now and checked against the incident's pin, not the node an alert named). Only a host alert with no
 * pod uses the alert's node. `pin` is the pod as checked, for the incident to pin if nothing did yet.
 */
async function targetOf(unit: ActionUnit, ctx: StepContext): Promise<{ target: ChangeTarget; pin?: PodPin }> {
  if (unit.target === 'node' && !ctx.target.pod) {
    if (!ctx.target.node) throw new StepNotApplicable('the incident names neither a pod nor a node');
    return { target: { kind: 'node', node: ctx.target.node } };
  }
  const pod = podOf(ctx.target);
  // A pod action checks the pin itself, in the same requests as its change (and may find the pod gone).
  if (unit.target === 'pod') return { target: { kind: 'pod', pod } };
  const pin = await ctx.deps.cluster.pinPod(pod, ctx.pod);
  if (!pin.node) throw new StepNotApplicable('the pod is not scheduled on a node');
  return { target: { kind: 'node', node: pin.node }, pin };
}

/**
 * What an undo acts on. It checks no pin (the pod may be gone, or replaced: undo touches only what this
 * incident created): a node action uses the node recorded when the incident pinned the pod, so uncordon
 * works after delete-pod; incidents pinned before nodes were recorded fall back to the live pod, then the alert.
 */
async function undoTargetOf(unit: ActionUnit, ctx: StepContext): Promise<ChangeTarget> {
  if (unit.target === 'pod') return { kind: 'pod', pod: podOf(ctx.target) };
  const recorded = ctx.pod?.node;
  if (recorded) return { kind: 'node', node: recorded };
  if (ctx.target.pod) {
    const live = await ctx.deps.cluster.pinPod(podOf(ctx.target)).catch((err: unknown) => {
      if (isFailure(err, FailureType.NotFound)) return undefined;
      throw err;
    });
    if (live?.node) return { kind: 'node', node: live.node };
  }
  if (ctx.target.node) return { kind: 'node', node: ctx.target.node };
  throw new StepNotApplicable('no node recorded for this incident and the pod is gone');
}

const mutation = (ctx: StepContext, pod?: PodPin): MutationOptions => ({
  dryRun: ctx.dryRun,
  incidentId: ctx.incidentId,
  params: ctx.params,
  ...(pod ? { pod } : {}),
  signal: ctx.signal,
});

/** preserve: the record of the pod (read as the capture identity) first, then the change; both under preserve/. */
async function preserve(unit: ActionUnit, ctx: StepContext): Promise<StepResult> {
  const pod = podOf(ctx.target);
  // Pinned first: the record, the change and every later step are about this one pod (its UID).
  const pin = await ctx.deps.cluster.pinPod(pod, ctx.pod).catch((err: unknown) => {
    // An alert about a pod that does not exist (a typo, an attacker's invention): nothing to respond to.
    if (!ctx.pod && isFailure(err, FailureType.NotFound))
      throw new TargetNotFound(`pod ${pod.namespace}/${pod.pod} does not exist`, { cause: err });
    throw err;
  });
  const inspection = await ctx.deps.cluster.inspect(pod, {
    incidentId: ctx.incidentId,
    params: ctx.params,
    pod: pin,
    signal: ctx.signal,
  });
  // In a protected namespace the plan asks for the record only: the pod stays as it is (see activities/scope.ts).
  const outcome =
    ctx.params.recordOnly === true
      ? {
          dryRun: ctx.dryRun,
          changed: false,
          notes: ['record only (protected namespace): the pod was not relabelled or annotated'],
          record: {},
        }
      : await ctx.deps.cluster.change(unit.name, { kind: 'pod', pod }, mutation(ctx, pin));
  const pinned = outcome.pod ?? pin;
  const artifacts = await storeCaptures(ctx, 'preserve', [
    ...inspection,
    jsonCapture(
      `${unit.name}-actions.json`,
      'kubernetes-api',
      { dryRun: outcome.dryRun, changed: outcome.changed, pod: pinned, record: outcome.record },
      outcome.notes,
    ),
  ]);
  return { artifacts, notes: outcome.notes, changed: outcome.changed, pod: pinned };
}

/** What the step notes say of a check: the verdict first, loud when the action does not hold. */
export function verificationNote(v: ContainmentVerification): string {
  return v.verdict === 'not effective'
    ? `CONTAINMENT NOT EFFECTIVE: ${v.reason}`
    : `containment verification: ${v.verdict}: ${v.reason}`;
}

/**
 * The check of an action just applied. It never fails the step (the change is in place and stays recorded):
 * a check that cannot run is a verdict of its own, unverified, with the reason. Only cancellation propagates.
 */
async function check(
  unit: ActionUnit,
  ctx: StepContext,
  target: ChangeTarget,
  pod: PodPin | undefined,
  appliedAt: number,
): Promise<ContainmentCheck> {
  try {
    return await ctx.deps.cluster.verify(unit.name, target, { ...mutation(ctx, pod), appliedAt });
  } catch (err) {
    if (ctx.signal?.aborted) throw err;
    const reason = `the check failed: ${((err as Error)?.message ?? String(err)).slice(0, 500)}`;
    return {
      verdict: 'unverified',
      reason,
      notes: [],
      artifact: {
        name: 'containment-verification.json',
        method: 'none: the check could not run',
        collector: { name: 'holdfast-worker', version: HOLDFAST_VERSION },
        record: { action: unit.name, verdict: 'unverified', reason },
      },
    };
  }
}

/**
 * contain: the change, and what it did stored as evidence under contain/<name>.json (with the node for node
 * actions); for an action that can be checked (isolate), the check right after it, stored beside it.
 */
async function contain(unit: ActionUnit, ctx: StepContext): Promise<StepResult> {
  const { target, pin } = await targetOf(unit, ctx);
  const outcome = await ctx.deps.cluster.change(unit.name, target, mutation(ctx, pin ?? ctx.pod));
  const appliedAt = Date.now();
  const pod = outcome.pod ?? pin;
  const notes = [...outcome.notes];
  if (target.kind === 'node' && ctx.target.node && ctx.target.node !== target.node)
    notes.push(`the alert named node ${ctx.target.node}; the pod runs on ${target.node}, which was acted on`);
  const record = {
    ...(target.kind === 'node' ? { node: target.node } : {}),
    ...outcome,
    notes,
    ...(pod ? { pod } : {}),
  };
  const captures: CaptureStream[] = [jsonCapture(`${unit.name}.json`, 'kubernetes-api', record, [...notes])];
  let verification: ContainmentVerification | undefined;
  if (unit.verify) {
    // The change is in place; the status shows it while the check runs (a few seconds, at most about two minutes).
    ctx.progress({ step: unit.name, appliedAt: new Date(appliedAt).toISOString(), checking: true });
    const checked = await check(unit, ctx, target, pod ?? ctx.pod, appliedAt);
    verification = { verdict: checked.verdict, reason: checked.reason };
    const line = verificationNote(verification);
    const { name, method, collector, record: evidence } = checked.artifact;
    captures.push({ ...jsonCapture(name, method, evidence, [line, ...checked.notes]), collector });
    notes.push(line, ...checked.notes);
  }
  const artifacts = await storeCaptures(ctx, 'contain', captures);
  return {
    artifacts,
    notes,
    changed: outcome.changed,
    ...(pod ? { pod } : {}),
    ...(verification ? { verification } : {}),
  };
}

/** Undo only reports: nothing is stored. */
async function revert(unit: ActionUnit, ctx: StepContext): Promise<StepResult> {
  const outcome = await ctx.deps.cluster.revert(unit.name, await undoTargetOf(unit, ctx), mutation(ctx, ctx.pod));
  return { artifacts: [], notes: outcome.notes, changed: outcome.changed };
}

/** A preserve or contain step: the cluster's change for the action unit of that name; undoable when the unit is. */
export function changeStep(unit: ActionUnit): StepDefinition {
  return {
    name: unit.name,
    kind: unit.kind,
    description: unit.description,
    params: unit.params,
    example: unit.example,
    rbac: unit.rbac,
    timeouts: unit.timeouts,
    needsPod: unit.needsPod,
    ...(unit.requiresApproval ? { requiresApproval: true } : {}),
    run: (ctx) => (unit.kind === 'preserve' ? preserve(unit, ctx) : contain(unit, ctx)),
    ...(unit.undo ? { undo: (ctx: StepContext) => revert(unit, ctx) } : {}),
  };
}
