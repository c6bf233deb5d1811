/**
 * How the incident workflow runs one step activity: the activity's options come from the plan, and
 * whatever happens is written to the step's record. Workflow code: Temporal's sandbox rules apply.
 */
import { isCancellation, proxyActivities } from '@temporalio/workflow';
import type { StepActivity, StepActivityInput, StepActivityName, StepResult } from '../activities/contract';
import { FailureType, NON_RETRYABLE } from '../common/failures';
import type { IncidentPlan, PlannedStep } from '../common/plan';
import type { TamperFinding } from '../common/types';
import type { StepStatus } from './definitions';
import type { IncidentState } from './incident-state';

function stepActivity(kind: 'step' | 'undo', step: PlannedStep): StepActivity {
  const acts = proxyActivities<Record<StepActivityName, StepActivity>>({
    startToCloseTimeout: step.timeouts.startToCloseSeconds * 1000,
    ...(step.timeouts.heartbeatSeconds > 0 ? { heartbeatTimeout: step.timeouts.heartbeatSeconds * 1000 } : {}),
    retry: {
      initialInterval: '1 second',
      maximumInterval: '30 seconds',
      maximumAttempts: step.timeouts.maximumAttempts,
      nonRetryableErrorTypes: [...NON_RETRYABLE],
    },
  });
  return acts[`${kind}.${step.name}`]!;
}

/** The adapter's failure inside Temporal's wrappers (ActivityFailure → ApplicationFailure). */
function innermost(err: unknown): { type?: string; message?: string } | undefined {
  let current = err as { message?: string; cause?: unknown; type?: string } | undefined;
  let typed: typeof current;
  while (current) {
    if (current.type) typed = current;
    current = current.cause as typeof current;
  }
  return typed ?? (err as typeof current);
}

export function describeFailure(err: unknown): string {
  const failure = innermost(err);
  return `${failure?.type ? `${failure.type}: ` : ''}${failure?.message ?? String(err)}`.slice(0, 1000);
}

function failureType(err: unknown): string | undefined {
  return innermost(err)?.type;
}

/** A step that failed because a process in the target stopped or killed its collector: the tamper finding. */
export function tamperOfFailure(type: string | undefined, message: string | undefined): TamperFinding | undefined {
  const detail = (message ?? '').slice(0, 300);
  if (type === FailureType.CollectorStalled) return { kind: 'collector-stalled', detail };
  if (type !== FailureType.CollectorInterfered) return undefined;
  return { kind: /: killed by /.test(detail) ? 'collector-killed' : 'output-incomplete', detail };
}

/** Runs one step activity and records what happened; never throws except on cancellation. */
export async function runStep(
  state: IncidentState,
  record: StepStatus,
  kind: 'step' | 'undo',
  step: PlannedStep,
  plan: IncidentPlan,
): Promise<StepResult | undefined> {
  if (!state.applies(step)) {
    state.skip(record, 'this incident has no pod (host-level alert)');
    return undefined;
  }
  state.start(record);
  const stepInput: StepActivityInput = {
    incidentId: state.incidentId,
    target: state.target,
    dryRun: plan.dryRun,
    params: step.params,
    // Activity inputs are not part of replay's command check: incidents recorded before pinning replay alike.
    ...(state.pod ? { pod: state.pod } : {}),
  };
  try {
    const result = await stepActivity(kind, step)(stepInput);
    state.pin(result.pod);
    state.succeed(record, result);
    return result;
  } catch (err) {
    if (isCancellation(err)) {
      state.skip(record, 'cancelled');
      throw err;
    }
    const message = describeFailure(err);
    const tamper = tamperOfFailure(failureType(err), innermost(err)?.message);
    if (tamper) state.tampered([{ step: step.name, ...tamper }]);
    if (failureType(err) === FailureType.StepNotApplicable) state.notApplicable(record, message);
    else if (failureType(err) === FailureType.TargetNotFound) state.targetNotFound(record, message);
    else state.fail(record, message, `${kind === 'undo' ? 'undo.' : ''}${step.name}`);
    return undefined;
  } finally {
    state.end(record);
  }
}
