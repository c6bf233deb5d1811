/**
 * What the incidents list shows, shared by the API (api/incidents.ts) and the browser console (console/),
 * which bundles this file: so it imports nothing and holds only data shapes and constants.
 */

/** An incident's phases, in the order an incident goes through them (the list's `?status=` values). */
export const INCIDENT_PHASES = [
  'planning',
  'preserving',
  'capturing',
  'containing',
  'sealing',
  'escalating',
  'acknowledged',
  'resolved',
  'cancelled',
  'closed',
] as const;

/** One row of GET /v1/incidents. */
export interface IncidentSummary {
  incidentId: string;
  workflowId: string;
  status: string;
  severity?: string;
  cluster?: string;
  namespace?: string;
  pod?: string;
  source?: string;
  startedAt?: string;
  closedAt?: string;
}
