import type { TSchema } from '@sinclair/typebox';
import type { StepTimeouts } from '../../common/plan';
import { storeCaptures } from './store';
import { podOf, type RbacRule, type StepDefinition } from './types';

type CaptureKind = 'filesystem' | 'memory' | 'logs' | 'network';

/** A capture step is the cluster adapter's stream for `kind`, stored as evidence. */
export function clusterCaptureStep(spec: {
  kind: CaptureKind;
  description: string;
  params: TSchema;
  example: Record<string, unknown>;
  rbac: RbacRule[];
  timeouts: StepTimeouts;
}): StepDefinition {
  return {
    name: spec.kind,
    kind: 'capture',
    description: spec.description,
    params: spec.params,
    example: spec.example,
    rbac: spec.rbac,
    timeouts: spec.timeouts,
    needsPod: true,
    async run(ctx) {
      const pod = podOf(ctx.target);
      const streams = await ctx.deps.cluster.capture(spec.kind, pod, { incidentId: ctx.incidentId, params: ctx.params, dryRun: ctx.dryRun, signal: ctx.signal });
      const artifacts = await storeCaptures(ctx, spec.kind, streams);
      return { artifacts, notes: streams.flatMap((s) => s.notes) };
    },
  };
}
