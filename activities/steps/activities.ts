import { Context } from '@temporalio/activity';
import type { StepActivity, StepActivityInput, StepActivityName, StepResult } from '../contract';
import { InvalidInput, toActivityFailure } from '../../common/failures';
import { STEPS } from './registry';
import type { StepContext, StepDefinition, StepDeps } from './types';

const HEARTBEAT_EVERY_MS = 2000;
const KEEPALIVE_MS = 10_000;

function stepContext(input: StepActivityInput, deps: StepDeps): { ctx: StepContext; stop: () => void } {
  const activity = Context.current();
  let last = 0;
  let details: Record<string, unknown> = { step: 'started' };
  // A collector can work a while before its first byte (gcore stages a core file): a steady heartbeat
  // keeps the activity alive meanwhile; every collector command has its own byte and time bounds.
  const keepAlive = setInterval(() => activity.heartbeat(details), KEEPALIVE_MS);
  const ctx: StepContext = {
    ...input,
    deps,
    signal: activity.cancellationSignal,
    // Throttled: heartbeats are RPCs, and a byte counter changes thousands of times a second.
    progress(next) {
      details = next;
      const now = Date.now();
      if (now - last < HEARTBEAT_EVERY_MS) return;
      last = now;
      activity.heartbeat(details);
    },
  };
  return { ctx, stop: () => clearInterval(keepAlive) };
}

/** Observes each step's duration and outcome (the worker's /metrics). */
export type StepObserver = (step: string, outcome: 'succeeded' | 'failed', seconds: number) => void;

/** One activity per registered step: `step.<name>` runs it, `undo.<name>` reverses it where it can. */
export function createStepActivities(
  deps: StepDeps,
  observe: StepObserver = () => {},
  steps: readonly StepDefinition[] = STEPS,
): Record<StepActivityName, StepActivity> {
  const wrap =
    (name: string, run: (ctx: StepContext) => Promise<StepResult>): StepActivity =>
    async (input) => {
      const started = process.hrtime.bigint();
      const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
      const { ctx, stop } = stepContext(input, deps);
      try {
        // The alert's cluster is only a label until here: acting on this worker's cluster for another's alert
        // would hit whatever pod shares the name.
        if (deps.clusterName !== undefined && input.target.cluster !== deps.clusterName)
          throw new InvalidInput(
            `this worker serves cluster ${deps.clusterName}; the incident is about cluster ${input.target.cluster}: nothing was done`,
          );
        const result = await run(ctx);
        observe(name, 'succeeded', seconds());
        return result;
      } catch (err) {
        observe(name, 'failed', seconds());
        throw toActivityFailure(err);
      } finally {
        stop();
      }
    };
  const activities: Record<StepActivityName, StepActivity> = {};
  for (const step of steps) {
    activities[`step.${step.name}`] = wrap(step.name, (ctx) => step.run(ctx));
    const undo = step.undo;
    if (undo) activities[`undo.${step.name}`] = wrap(`undo.${step.name}`, (ctx) => undo.call(step, ctx));
  }
  return activities;
}
