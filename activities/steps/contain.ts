import type { ActionOutcome, Cluster, MutationOptions } from '../../common/ports';
import type { PodRef } from '../../common/types';
import { jsonCapture, storeCaptures } from './store';
import type { StepResult } from '../contract';
import { podOf, type StepContext } from './types';

/**
 * Runs a change on the incident's pod with the step's dry-run flag; when `recordAs` is given, what it
 * did is stored as evidence under contain/<recordAs> (undo actions only report).
 */
export async function changePod(
  ctx: StepContext,
  action: (cluster: Cluster, pod: PodRef, opts: MutationOptions) => Promise<ActionOutcome>,
  recordAs?: string,
): Promise<StepResult> {
  const outcome = await action(ctx.deps.cluster, podOf(ctx.target), { dryRun: ctx.dryRun, incidentId: ctx.incidentId, signal: ctx.signal });
  const artifacts = recordAs ? await storeCaptures(ctx, 'contain', [jsonCapture(recordAs, 'kubernetes-api', outcome, outcome.notes)]) : [];
  return { artifacts, notes: outcome.notes, changed: outcome.changed };
}
