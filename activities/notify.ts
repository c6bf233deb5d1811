import type { Notifier } from '../common/ports';
import type { NotifyActivity } from './contract';
import { FailureType, nonRetryableFailure, toActivityFailure } from '../common/failures';

/** The part of a notifier this activity needs (implemented in activities/notifiers/). */
export type NotifierLike = Pick<Notifier, 'send'>;

export function createNotifyActivities(deps: {
  notifiers: ReadonlyMap<string, NotifierLike>;
  signal?: () => AbortSignal | undefined;
}) {
  const notify: NotifyActivity = async ({ notifier, event, dryRun }) => {
    const target = deps.notifiers.get(notifier);
    if (!target)
      throw nonRetryableFailure(FailureType.UnknownNotifier, `no notifier named "${notifier}" is configured`);
    try {
      const result = await target.send(event, { dryRun, signal: deps.signal?.() });
      return { notifier, status: result.status, httpStatus: result.httpStatus };
    } catch (err) {
      throw toActivityFailure(err);
    }
  };
  return { notify };
}
