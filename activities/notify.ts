import { ApplicationFailure } from '@temporalio/common';
import type { NotificationEvent, Notifier } from './ports';
import { toActivityFailure } from './errors';

/** What a notifier is told (the port's NotificationEvent). */
export type NotifyEvent = NotificationEvent;

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
export type NotifierLike = Pick<Notifier, 'send'>;

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
