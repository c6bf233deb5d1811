import { ApplicationFailure } from '@temporalio/common';
import type { AlertTarget, Severity } from '../common/types';
import { toActivityFailure } from './errors';

/** What a notifier is told; the dedup key (the incident id) lets vendors fold repeats and resolve. */
export interface NotifyEvent {
  action: 'trigger' | 'resolve';
  incidentId: string;
  title: string;
  severity: Severity;
  summary: string;
  tier: number;
  target: AlertTarget;
  links: { incident: string; history?: string };
  dedupKey: string;
}

export interface NotifyInput {
  notifier: string;
  event: NotifyEvent;
  dryRun: boolean;
}

export interface NotifyOutcome {
  notifier: string;
  status: 'sent' | 'dry-run';
  httpStatus?: number;
}

export type NotifyActivity = (input: NotifyInput) => Promise<NotifyOutcome>;

/** The part of a notifier this activity needs (implemented in activities/notifiers/). */
export interface NotifierLike {
  send(event: NotifyEvent, opts: { dryRun: boolean; signal?: AbortSignal }): Promise<{ status: 'sent' | 'dry-run'; httpStatus?: number }>;
}

export function createNotifyActivities(deps: { notifiers: ReadonlyMap<string, NotifierLike>; signal?: () => AbortSignal | undefined }) {
  const notify: NotifyActivity = async ({ notifier, event, dryRun }) => {
    const target = deps.notifiers.get(notifier);
    if (!target) throw ApplicationFailure.nonRetryable(`no notifier named "${notifier}" is configured`, 'UnknownNotifier');
    try {
      const result = await target.send(event, { dryRun, signal: deps.signal?.() });
      return { notifier, status: result.status, httpStatus: result.httpStatus };
    } catch (err) {
      throw toActivityFailure(err);
    }
  };
  return { notify };
}
