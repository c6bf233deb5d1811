import { Type } from '@sinclair/typebox';
import { jsonCapture, storeCaptures } from './store';
import { podOf, type StepDefinition } from './types';

export const isolateStep: StepDefinition = {
  name: 'isolate',
  kind: 'contain',
  description:
    "A deny-all (Ingress + Egress) NetworkPolicy selecting only this pod's quarantine label, idempotent by name. " +
    'Whether established connections are cut depends on the CNI; the evidence says so.',
  params: Type.Object({}),
  example: {},
  rbac: [
    { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['create', 'delete'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['patch'] },
  ],
  timeouts: { startToCloseSeconds: 30, heartbeatSeconds: 0, maximumAttempts: 5 },
  needsPod: true,
  async run(ctx) {
    const outcome = await ctx.deps.cluster.isolate(podOf(ctx.target), { dryRun: ctx.dryRun, incidentId: ctx.incidentId, signal: ctx.signal });
    const artifacts = await storeCaptures(ctx, 'contain', [jsonCapture('isolate.json', 'kubernetes-api', outcome, outcome.notes)]);
    return { artifacts, notes: outcome.notes, changed: outcome.changed };
  },
  async undo(ctx) {
    const outcome = await ctx.deps.cluster.unisolate(podOf(ctx.target), { dryRun: ctx.dryRun, incidentId: ctx.incidentId, signal: ctx.signal });
    return { artifacts: [], notes: outcome.notes, changed: outcome.changed };
  },
};
