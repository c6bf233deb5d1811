/**
 * PagingActions on Temporal. Idempotent twice over: an incident that already shows the acknowledgement or
 * decision gets no signal at all, and the signal carries a request id derived from the vendor's delivery, which
 * the Temporal server remembers per run and drops when it comes again (a vendor's retry racing the first
 * delivery). The workflow's own handlers keep the first acknowledgement, decision and resolution besides.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { encodeToPayloads } from '@temporalio/common/lib/internal-non-workflow';
import {
  acknowledgeSignal,
  approveSignal,
  rejectSignal,
  resolveSignal,
  type IncidentStatus,
} from '../../workflows/definitions';
import type { IncidentsService } from '../incidents';
import type { PagingAction, PagingActions, PagingOutcome } from './receiver';

const SIGNALS: Record<PagingAction, string> = {
  acknowledge: acknowledgeSignal.name,
  approve: approveSignal.name,
  reject: rejectSignal.name,
  resolve: resolveSignal.name,
};

/** Whether the incident already shows what this action would record. */
function alreadyDone(status: IncidentStatus, action: PagingAction, step: string | undefined): boolean {
  if (action === 'acknowledge') return status.acknowledgedBy !== undefined;
  if (action === 'approve' || action === 'reject')
    return status.steps.some((s) => s.name === step && s.decision !== undefined);
  return false;
}

export function temporalPagingActions(client: Client, incidents: IncidentsService): PagingActions {
  return {
    async act(incidentId, action, request, deliveryId): Promise<PagingOutcome> {
      // Finds the incident's current run (it continues as new while it waits) and its status.
      const detail = await incidents.get(incidentId);
      if (!detail.running) return 'closed';
      if (alreadyDone(detail.status, action, request.step)) return 'already';
      const arg = {
        ...(request.step ? { step: request.step } : {}),
        by: request.by,
        role: request.role,
        ...(request.note ? { note: request.note } : {}),
      };
      try {
        await client.workflowService.signalWorkflowExecution({
          namespace: client.options.namespace,
          workflowExecution: { workflowId: detail.workflowId, runId: detail.runId },
          signalName: SIGNALS[action],
          input: { payloads: await encodeToPayloads(client.options.loadedDataConverter, arg) },
          identity: client.options.identity,
          requestId: deliveryId,
        });
      } catch (err) {
        // The run ended between the status and the signal.
        if (err instanceof WorkflowNotFoundError || (err as { code?: number }).code === 5) return 'closed';
        throw err;
      }
      return 'applied';
    },
  };
}
