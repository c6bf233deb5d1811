import type { CaptureUnit } from '../../adapters/kubernetes/units';
import { boundTamperFlags } from '../../common/types';
import { storeCaptures } from './store';
import { podOf, type StepDefinition } from './types';

/** A capture step: the cluster's streams for the capture unit of that name, stored as evidence under its name. */
export function captureStep(unit: CaptureUnit): StepDefinition {
  return {
    name: unit.name,
    kind: 'capture',
    description: unit.description,
    params: unit.params,
    example: unit.example,
    rbac: unit.rbac,
    timeouts: unit.timeouts,
    needsPod: true,
    async run(ctx) {
      const pod = podOf(ctx.target);
      const streams = await ctx.deps.cluster.capture(unit.name, pod, {
        incidentId: ctx.incidentId,
        params: ctx.params,
        dryRun: ctx.dryRun,
        ...(ctx.pod ? { pod: ctx.pod } : {}),
        signal: ctx.signal,
      });
      const artifacts = await storeCaptures(ctx, unit.name, streams);
      // Read once every stream ended: findings are added as the streams run.
      const tamper = boundTamperFlags(streams.flatMap((s) => (s.tamper ?? []).map((f) => ({ ...f, step: unit.name }))));
      // The control sample's comparison (step control): the status and pages show its summary first.
      const control = streams.find((s) => s.control)?.control;
      return {
        artifacts,
        notes: streams.flatMap((s) => s.notes),
        ...(tamper.length > 0 ? { tamper } : {}),
        ...(control ? { control } : {}),
      };
    },
  };
}
