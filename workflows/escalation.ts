import {
  condition,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { NamedActivities, NotifyEvent } from '../activities/contract';
import { NOTIFY_NON_RETRYABLE } from '../common/failures';
import type { EscalationTier } from '../common/plan';
import {
  escalationReportSignal,
  stopEscalationSignal,
  type Actor,
  type EscalationPage,
  type EscalationReport,
} from './definitions';

export interface EscalationInput {
  tiers: EscalationTier[];
  repeatLastTier: number;
  event: Omit<NotifyEvent, 'action' | 'tier'>;
  dryRun: boolean;
  /**
   * The incident's workflow id, for incidents that continue as new: each tier's pages and the end are
   * signalled to it (reaching its current run), since a later run cannot await this child's result.
   */
  reportTo?: string;
}

export interface EscalationResult {
  acknowledgedBy?: string;
  /** Every notifier that was paged, so the incident can resolve each of them later. */
  paged: string[];
  pages: EscalationPage[];
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
    const tierPages = results.map((result, i): EscalationPage => {
      const notifier = tier.notifiers[i]!;
      paged.add(notifier);
      return result.status === 'fulfilled'
        ? { tier: tierNumber, notifier, ok: true }
        : {
            tier: tierNumber,
            notifier,
            ok: false,
            error: String((result.reason as Error).cause ?? result.reason).slice(0, 500),
          };
    });
    pages.push(...tierPages);
    // The incident is gone (terminated, or closed without stopping us): nobody could acknowledge, stop paging.
    if (!(await report(input, { pages: tierPages }))) break;
    if (index === schedule.length - 1) break;
    const acknowledged = await condition(() => acknowledgedBy !== undefined, tier.ackTimeoutSeconds * 1000);
    if (!acknowledged)
      log.info('not acknowledged in time, paging the next tier', {
        workflowId: workflowInfo().workflowId,
        tier: tierNumber + 1,
      });
  }
  await report(input, { pages: [], ended: { ...(acknowledgedBy ? { acknowledgedBy } : {}) } });
  return { acknowledgedBy, paged: [...paged], pages };
}

/** Tells the incident (if it asked for reports); false once the incident no longer exists. */
async function report(input: EscalationInput, content: Omit<EscalationReport, 'incidentId'>): Promise<boolean> {
  if (!input.reportTo) return true;
  try {
    await getExternalWorkflowHandle(input.reportTo).signal(escalationReportSignal, {
      incidentId: input.event.incidentId,
      ...content,
    });
    return true;
  } catch (err) {
    log.warn('the incident did not take the escalation report', { reportTo: input.reportTo, error: String(err) });
    return false;
  }
}
