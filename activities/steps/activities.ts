import { Context } from '@temporalio/activity';
import type { AlertTarget } from '../../common/types';
import { toActivityFailure } from '../errors';
import { STEPS } from './registry';
import type { StepContext, StepDeps, StepResult } from './types';

export interface StepActivityInput {
  incidentId: string;
  target: AlertTarget;
  dryRun: boolean;
  params: Record<string, unknown>;
}

export type StepActivity = (input: StepActivityInput) => Promise<StepResult>;

const HEARTBEAT_EVERY_MS = 2000;

function stepContext(input: StepActivityInput, deps: StepDeps): StepContext {
  const activity = Context.current();
  let last = 0;
  return {
    ...input,
    deps,
    signal: activity.cancellationSignal,
    // Throttled: heartbeats are RPCs, and a byte counter changes thousands of times a second.
    progress(details) {
      const now = Date.now();
      if (now - last < HEARTBEAT_EVERY_MS) return;
      last = now;
      activity.heartbeat(details);
    },
  };
}

/** One activity per registered step: `step.<name>` runs it, `undo.<name>` reverses it where it can. */
export function createStepActivities(deps: StepDeps): Record<string, StepActivity> {
  const activities: Record<string, StepActivity> = {};
  for (const step of STEPS) {
    activities[`step.${step.name}`] = async (input) => {
      try {
        return await step.run(stepContext(input, deps));
      } catch (err) {
        throw toActivityFailure(err);
      }
    };
    const undo = step.undo;
    if (undo) {
      activities[`undo.${step.name}`] = async (input) => {
        try {
          return await undo.call(step, stepContext(input, deps));
        } catch (err) {
          throw toActivityFailure(err);
        }
      };
    }
  }
  return activities;
}
