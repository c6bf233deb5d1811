import { Type } from '@sinclair/typebox';
import type { AlertTarget } from '../../common/types';
import { jsonCapture, storeCaptures } from './store';
import { StepNotApplicable } from '../../common/failures';
import { podOf, type StepContext, type StepDefinition } from './types';

async function nodeFor(ctx: StepContext, target: AlertTarget): Promise<string> {
  if (target.node) return target.node;
  const node = await ctx.deps.cluster.nodeOf(podOf(target));
  if (!node) throw new StepNotApplicable('the pod is not scheduled on a node');
  return node;
}

/** Cordon only (spec.unschedulable): never drain, which would evict the evidence. */
export const cordonStep: StepDefinition = {
  name: 'cordon',
  kind: 'contain',
  description: 'Marks the node unschedulable so nothing new lands next to the suspect workload. Never drains.',
  params: Type.Object({}),
  example: {},
  rbac: [
    { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
  ],
  timeouts: { startToCloseSeconds: 30, heartbeatSeconds: 0, maximumAttempts: 5 },
  needsPod: false,
  async run(ctx) {
    const node = await nodeFor(ctx, ctx.target);
    const outcome = await ctx.deps.cluster.cordon(node, { dryRun: ctx.dryRun, incidentId: ctx.incidentId, signal: ctx.signal });
    const artifacts = await storeCaptures(ctx, 'contain', [jsonCapture('cordon.json', 'kubernetes-api', { node, ...outcome }, outcome.notes)]);
    return { artifacts, notes: outcome.notes, changed: outcome.changed };
  },
  async undo(ctx) {
    const node = await nodeFor(ctx, ctx.target);
    const outcome = await ctx.deps.cluster.uncordon(node, { dryRun: ctx.dryRun, incidentId: ctx.incidentId, signal: ctx.signal });
    return { artifacts: [], notes: outcome.notes, changed: outcome.changed };
  },
};
