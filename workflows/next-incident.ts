import { proxyActivities } from '@temporalio/workflow';
import type { NamedActivities, NextIncidentInput } from '../activities/contract';

const { openNextIncident } = proxyActivities<Pick<NamedActivities, 'openNextIncident'>>({
  startToCloseTimeout: '30 seconds',
  // The closing incident ends within minutes (its escalation child confirms within 1 min); waiting longer
  // than this means something else is wrong, and the alerts stay recorded on the closed incident.
  retry: { initialInterval: '1 second', backoffCoefficient: 1.5, maximumInterval: '30 seconds', maximumAttempts: 60 },
});

/**
 * Started, detached, by an incident that received alerts while it was closing: once that incident has closed,
 * they open the key's next incident, as an alert arriving a moment later would have.
 */
export async function nextIncidentWorkflow(input: NextIncidentInput): Promise<{ runId: string }> {
  return await openNextIncident(input);
}
