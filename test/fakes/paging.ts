/**
 * In-memory PagingActions for receiver tests: records every act, and answers like the Temporal one would for
 * a running incident: `applied` the first time a delivery id is seen, `already` for a repeat; an incident id
 * in `closed` answers `closed`.
 */
import type { PagingAction, PagingActions, PagingOutcome, PagingRequest } from '../../api/paging/receiver';

export interface FakeAct {
  incidentId: string;
  action: PagingAction;
  request: PagingRequest;
  deliveryId: string;
}

export class FakePagingActions implements PagingActions {
  readonly acts: FakeAct[] = [];
  readonly closed = new Set<string>();
  private readonly seen = new Set<string>();

  async act(
    incidentId: string,
    action: PagingAction,
    request: PagingRequest,
    deliveryId: string,
  ): Promise<PagingOutcome> {
    if (this.closed.has(incidentId)) return 'closed';
    if (this.seen.has(deliveryId)) return 'already';
    this.seen.add(deliveryId);
    this.acts.push({ incidentId, action, request: structuredClone(request), deliveryId });
    return 'applied';
  }
}
