import type { ActionUnit } from '../../adapters/kubernetes/units';
import { StepNotApplicable } from '../../common/failures';
import type { ChangeTarget, MutationOptions } from '../../common/ports';
import type { StepResult } from '../contract';
import { jsonCapture, storeCaptures } from './store';
import { podOf, type StepContext, type StepDefinition } from './types';

/** The node a node action changes: the alert's, else the one the pod is scheduled on. */
async function nodeFor(ctx: StepContext): Promise<string> {
  if (ctx.target.node) return ctx.target.node;
  const node = await ctx.deps.cluster.nodeOf(podOf(ctx.target));
  if (!node) throw new StepNotApplicable('the pod is not scheduled on a node');
  return node;
}

async function targetOf(unit: ActionUnit, ctx: StepContext): Promise<ChangeTarget> {
  return unit.target === 'node' ? { kind: 'node', node: await nodeFor(ctx) } : { kind: 'pod', pod: podOf(ctx.target) };
}

const mutation = (ctx: StepContext): MutationOptions => ({
  dryRun: ctx.dryRun,
  incidentId: ctx.incidentId,
  params: ctx.params,
  signal: ctx.signal,
});

/** preserve: the record of the pod (read as the capture identity) first, then the change; both under preserve/. */
async function preserve(unit: ActionUnit, ctx: StepContext): Promise<StepResult> {
  const pod = podOf(ctx.target);
  const inspection = await ctx.deps.cluster.inspect(pod, {
    incidentId: ctx.incidentId,
    params: ctx.params,
    signal: ctx.signal,
  });
  const outcome = await ctx.deps.cluster.change(unit.name, { kind: 'pod', pod }, mutation(ctx));
  const artifacts = await storeCaptures(ctx, 'preserve', [
    ...inspection,
    jsonCapture(
      `${unit.name}-actions.json`,
      'kubernetes-api',
      { dryRun: outcome.dryRun, changed: outcome.changed, record: outcome.record },
      outcome.notes,
    ),
  ]);
  return { artifacts, notes: outcome.notes, changed: outcome.changed };
}

/** contain: the change, and what it did stored as evidence under contain/<name>.json (with the node for node actions). */
async function contain(unit: ActionUnit, ctx: StepContext): Promise<StepResult> {
  const target = await targetOf(unit, ctx);
  const outcome = await ctx.deps.cluster.change(unit.name, target, mutation(ctx));
  const record = target.kind === 'node' ? { node: target.node, ...outcome } : outcome;
  const artifacts = await storeCaptures(ctx, 'contain', [
    jsonCapture(`${unit.name}.json`, 'kubernetes-api', record, outcome.notes),
  ]);
  return { artifacts, notes: outcome.notes, changed: outcome.changed };
}

/** Undo only reports: nothing is stored. */
async function revert(unit: ActionUnit, ctx: StepContext): Promise<StepResult> {
  const outcome = await ctx.deps.cluster.revert(unit.name, await targetOf(unit, ctx), mutation(ctx));
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
