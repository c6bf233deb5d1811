/**
 * In-memory notifier for workflow and activity tests: records every send, can be told to fail the next
 * calls (retryably or not), and counts per action and per dedup key.
 */
import { NotifierRejected, NotifierUnavailable } from '../../adapters/notifiers/http';
import type { NotificationEvent, NotificationResult, Notifier } from '../../common/ports';

export interface FakeSend {
  event: NotificationEvent;
  dryRun: boolean;
}

export class FakeNotifier implements Notifier {
  readonly kind = 'fake';
  readonly sends: FakeSend[] = [];
  private failures: Array<'retryable' | 'rejected'> = [];

  constructor(readonly name = 'fake') {}

  /** The next `times` sends throw: NotifierUnavailable (retryable) or NotifierRejected (non-retryable). */
  failNext(kind: 'retryable' | 'rejected', times = 1): void {
    for (let i = 0; i < times; i += 1) this.failures.push(kind);
  }

  async send(event: NotificationEvent, opts: { dryRun: boolean; signal?: AbortSignal }): Promise<NotificationResult> {
    const failure = this.failures.shift();
    if (failure === 'retryable') throw new NotifierUnavailable(`fake notifier "${this.name}": HTTP 503`, 503);
    if (failure === 'rejected') throw new NotifierRejected(`fake notifier "${this.name}": HTTP 400`, 400);
    this.sends.push({ event: structuredClone(event), dryRun: opts.dryRun });
    return opts.dryRun ? { status: 'dry-run' } : { status: 'sent', httpStatus: 202 };
  }

  get count(): number {
    return this.sends.length;
  }

  countOf(action: NotificationEvent['action'], dedupKey?: string): number {
    return this.sends.filter(
      (s) => s.event.action === action && (dedupKey === undefined || s.event.dedupKey === dedupKey),
    ).length;
  }

  reset(): void {
    this.sends.length = 0;
    this.failures = [];
  }
}
