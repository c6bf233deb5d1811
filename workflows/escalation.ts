import { condition, log, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { NamedActivities, NotifyEvent } from '../activities/contract';
import { NOTIFY_NON_RETRYABLE } from '../common/failures';
import type { EscalationTier } from '../common/plan';
import { stopEscalationSignal, type Actor } from './definitions';

export interface EscalationInput {
  tiers: EscalationTier[];
  repeatLastTier: number;
  event: Omit<NotifyEvent, 'action' | 'tier'>;
  dryRun: boolean;
}

export interface EscalationResult {
  acknowledgedBy?: string;
  /** Every notifier that was paged, so the incident can resolve each of them later. */
  paged: string[];
  pages: Array<{ tier: number; notifier: string; ok: boolean; error?: string }>;
}

const { notify } = proxyActivities<Pick<NamedActivities, 'notify'>>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 8,
    nonRetryableErrorTypes: [...NOTIFY_NON_RETRYABLE],
  },
});

/**
 * Pages tier 1, waits on a durable timer for an acknowledgement, pages the next tier, and so on;
 * the last tier is re-paged `repeatLastTier` times. Timers survive worker and server restarts.
 */
export async function escalationWorkflow(input: EscalationInput): Promise<EscalationResult> {
  let acknowledgedBy: string | undefined;
  setHandler(stopEscalationSignal, (actor: Actor) => {
    acknowledgedBy ??= actor.by;
  });
  const paged = new Set<string>();
  const pages: EscalationResult['pages'] = [];
  const schedule = [...input.tiers];
  const last = input.tiers[input.tiers.length - 1];
  for (let i = 0; last && i < input.repeatLastTier; i++) schedule.push(last);

  for (let index = 0; index < schedule.length && acknowledgedBy === undefined; index++) {
    const tier = schedule[index]!;
    const tierNumber = Math.min(index + 1, input.tiers.length);
    const results = await Promise.allSettled(
      tier.notifiers.map((notifier) =>
        notify({ notifier, dryRun: input.dryRun, event: { ...input.event, action: 'trigger', tier: tierNumber } }),
      ),
    );
    results.forEach((result, i) => {
      const notifier = tier.notifiers[i]!;
      paged.add(notifier);
      pages.push(
        result.status === 'fulfilled'
          ? { tier: tierNumber, notifier, ok: true }
          : {
              tier: tierNumber,
              notifier,
              ok: false,
              error: String((result.reason as Error).cause ?? result.reason).slice(0, 500),
            },
      );
    });
    if (index === schedule.length - 1) break;
    const acknowledged = await condition(() => acknowledgedBy !== undefined, tier.ackTimeoutSeconds * 1000);
    if (!acknowledged)
      log.info('not acknowledged in time, paging the next tier', {
        workflowId: workflowInfo().workflowId,
        tier: tierNumber + 1,
      });
  }
  return { acknowledgedBy, paged: [...paged], pages };
}
