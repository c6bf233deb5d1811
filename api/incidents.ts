import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes';
import {
  acknowledgeSignal,
  alertsQuery,
  approveSignal,
  cancelSignal,
  INCIDENT_WORKFLOW,
  incidentIdFromRunId,
  nextIncidentWorkflowId,
  rejectSignal,
  resolveSignal,
  runIdFromIncidentId,
  statusQuery,
  type AlertRecord,
  type IncidentStatus,
} from '../workflows/definitions';
import { INCIDENT_PHASES, type IncidentSummary } from '../common/incident-view';
import { HttpProblem } from './errors';

export type { IncidentSummary };

export interface IncidentFilters {
  status?: string;
  namespace?: string;
  pod?: string;
  severity?: string;
  source?: string;
  cluster?: string;
}

/** One incident as GET /v1/incidents/{id} answers it (the route adds the Temporal UI link when configured). */
export interface IncidentDetail {
  status: IncidentStatus;
  alerts: AlertRecord[];
  running: boolean;
  progress: Array<{ activity: string; details: unknown }>;
  workflowId: string;
  /** The current run: the incident's first run unless it continued as new while it waited. */
  runId: string;
  /** Alerts arrived while it closed (`status.handedOver`): the incident they opened, once it is open. */
  nextIncidentId?: string;
}

/**
 * The incident's run in the Temporal Web UI. Workflow ids hold `/` (incident/<cluster>/<ns>/<pod>): each
 * segment is percent-encoded, as the UI itself encodes them in its routes.
 */
export function temporalUiLink(baseUrl: string, namespace: string, workflowId: string, runId: string): string {
  const segment = encodeURIComponent;
  return `${baseUrl}/namespaces/${segment(namespace)}/workflows/${segment(workflowId)}/${segment(runId)}/history`;
}

export type IncidentAction = 'acknowledge' | 'approve' | 'reject' | 'resolve' | 'cancel';

/** What the responder routes need from Temporal; a fake can stand in for unit tests. */
export interface IncidentsService {
  list(
    filters: IncidentFilters,
    pageSize: number,
    pageToken?: string,
  ): Promise<{ incidents: IncidentSummary[]; nextPageToken?: string }>;
  get(incidentId: string): Promise<IncidentDetail>;
  history(
    incidentId: string,
    pageSize: number,
    pageToken?: string,
  ): Promise<{ events: unknown[]; nextPageToken?: string }>;
  act(
    incidentId: string,
    action: IncidentAction,
    body: { by: string; role?: string; step?: string; note?: string; undoContainment?: boolean },
  ): Promise<unknown>;
}

const FILTER_ATTRIBUTES: Record<keyof IncidentFilters, string> = {
  status: SEARCH_ATTRIBUTES.status.name,
  namespace: SEARCH_ATTRIBUTES.namespace.name,
  pod: SEARCH_ATTRIBUTES.pod.name,
  severity: SEARCH_ATTRIBUTES.severity.name,
  source: SEARCH_ATTRIBUTES.source.name,
  cluster: SEARCH_ATTRIBUTES.cluster.name,
};

/** Filter values are schema-validated names; quoting is belt and braces against query injection. */
function quote(value: string): string {
  if (!/^[A-Za-z0-9._:/-]{1,253}$/.test(value)) throw new HttpProblem(400, 'Bad Request', 'invalid filter value');
  return `"${value}"`;
}

/**
 * An incident that continued as new has one execution per run; only its latest run (never one that ended by
 * continuing) stands for it in lists and counts.
 */
const LATEST_RUNS = `WorkflowType = "${INCIDENT_WORKFLOW}" AND ExecutionStatus != "ContinuedAsNew"`;

/** How many continue-as-new links `locate` follows: far more than a week of waiting produces. */
const MAX_RUNS = 1000;

export function visibilityQuery(filters: IncidentFilters): string {
  const clauses = [LATEST_RUNS];
  for (const [name, attribute] of Object.entries(FILTER_ATTRIBUTES) as Array<[keyof IncidentFilters, string]>) {
    const value = filters[name];
    if (value) clauses.push(`${attribute} = ${quote(value)}`);
  }
  return clauses.join(' AND ');
}

function decodePayload(payload: temporal.api.common.v1.IPayload | null | undefined): unknown {
  if (!payload?.data) return undefined;
  try {
    return JSON.parse(Buffer.from(payload.data).toString('utf8'));
  } catch {
    return undefined;
  }
}

function toDate(
  ts: temporal.api.common.v1.IPayload | { seconds?: unknown; nanos?: number | null } | null | undefined,
): string | undefined {
  const t = ts as { seconds?: { toNumber?: () => number } | number | string; nanos?: number } | undefined;
  if (!t?.seconds) return undefined;
  const seconds = typeof t.seconds === 'object' && t.seconds.toNumber ? t.seconds.toNumber() : Number(t.seconds);
  return new Date(seconds * 1000 + Math.floor((t.nanos ?? 0) / 1e6)).toISOString();
}

function encodeToken(token: Uint8Array | null | undefined): string | undefined {
  return token && token.length > 0 ? Buffer.from(token).toString('base64url') : undefined;
}

function decodeToken(token: string | undefined): Uint8Array | undefined {
  return token ? Buffer.from(token, 'base64url') : undefined;
}

export function temporalIncidents(client: Client, namespace: string): IncidentsService {
  const service = client.workflowService;

  const Status = temporal.api.enums.v1.WorkflowExecutionStatus;

  /**
   * The incident's first run (its id) and its current run: the same unless it continued as new while it
   * waited, in which case each run's last history event names the next.
   */
  async function locate(
    incidentId: string,
  ): Promise<{ workflowId: string; firstRunId: string; runId: string; running: boolean }> {
    const firstRunId = runIdFromIncidentId(incidentId);
    if (!firstRunId) throw new HttpProblem(404, 'Not Found', 'no such incident');
    const found = await service.listWorkflowExecutions({
      namespace,
      pageSize: 1,
      query: `RunId = "${firstRunId}" AND WorkflowType = "${INCIDENT_WORKFLOW}"`,
    });
    const execution = found.executions?.[0];
    const workflowId = execution?.execution?.workflowId;
    if (!workflowId) throw new HttpProblem(404, 'Not Found', `no incident ${incidentId}`);
    let runId = firstRunId;
    let status = execution.status;
    for (let runs = 1; status === Status.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW && runs < MAX_RUNS; runs++) {
      const last = await service.getWorkflowExecutionHistoryReverse({
        namespace,
        execution: { workflowId, runId },
        maximumPageSize: 1,
      });
      const next = last.history?.events?.[0]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
      if (!next) break;
      runId = next;
      const described = await service.describeWorkflowExecution({ namespace, execution: { workflowId, runId } });
      status = described.workflowExecutionInfo?.status;
    }
    return { workflowId, firstRunId, runId, running: status === Status.WORKFLOW_EXECUTION_STATUS_RUNNING };
  }

  /**
   * The incident that alerts handed over by a closed run opened: the result of its first hand-over child (the
   * run that child's signal-with-start reached). Undefined while that child still waits for the close, or if
   * it failed (the alerts then stay on the closed incident, which says so in its notes).
   */
  async function nextOf(workflowId: string, closingRunId: string): Promise<string | undefined> {
    const child = client.workflow.getHandle(nextIncidentWorkflowId(workflowId, closingRunId, 1));
    const described = await child.describe().catch(() => undefined);
    if (described?.status.name !== 'COMPLETED') return undefined;
    const { runId } = (await child.result()) as { runId?: unknown };
    return typeof runId === 'string' ? incidentIdFromRunId(runId) : undefined;
  }

  return {
    async list(filters, pageSize, pageToken) {
      const response = await service.listWorkflowExecutions({
        namespace,
        pageSize,
        nextPageToken: decodeToken(pageToken),
        query: visibilityQuery(filters),
      });
      const incidents = (response.executions ?? []).map((e): IncidentSummary => {
        const fields = e.searchAttributes?.indexedFields ?? {};
        // A later run carries the incident's id and start in its memo (see continueIncident).
        const memo = decodePayload(e.memo?.fields?.incident) as { incidentId?: string; startedAt?: string } | undefined;
        const attr = (name: string) => {
          const value = decodePayload(fields[name]);
          return Array.isArray(value) ? String(value[0]) : (value as string | undefined);
        };
        return {
          incidentId: memo?.incidentId ?? incidentIdFromRunId(e.execution?.runId ?? ''),
          workflowId: e.execution?.workflowId ?? '',
          status: attr(SEARCH_ATTRIBUTES.status.name) ?? 'unknown',
          severity: attr(SEARCH_ATTRIBUTES.severity.name),
          cluster: attr(SEARCH_ATTRIBUTES.cluster.name),
          namespace: attr(SEARCH_ATTRIBUTES.namespace.name),
          pod: attr(SEARCH_ATTRIBUTES.pod.name),
          source: attr(SEARCH_ATTRIBUTES.source.name),
          startedAt: memo?.startedAt ?? toDate(e.startTime),
          closedAt: toDate(e.closeTime),
        };
      });
      return { incidents, nextPageToken: encodeToken(response.nextPageToken) };
    },

    async get(incidentId) {
      const { workflowId, runId, running } = await locate(incidentId);
      const handle = client.workflow.getHandle(workflowId, runId);
      // A closed incident's final status is its result: no worker needed to answer.
      const [status, alerts] = running
        ? await Promise.all([handle.query(statusQuery), handle.query(alertsQuery)])
        : [(await handle.result()) as IncidentStatus, await handle.query(alertsQuery).catch(() => [] as AlertRecord[])];
      let progress: Array<{ activity: string; details: unknown }> = [];
      if (running) {
        const description = await service.describeWorkflowExecution({ namespace, execution: { workflowId, runId } });
        progress = (description.pendingActivities ?? []).map((a) => ({
          activity: a.activityType?.name ?? 'unknown',
          // An activity that has not heartbeated yet has no details: null, not absent (the answer's schema requires it).
          details: decodePayload(a.heartbeatDetails?.payloads?.[0]) ?? null,
        }));
      }
      const nextIncidentId = !running && (status.handedOver ?? 0) > 0 ? await nextOf(workflowId, runId) : undefined;
      return { status, alerts, running, progress, workflowId, runId, ...(nextIncidentId ? { nextIncidentId } : {}) };
    },

    // The first run's history: the whole response (plan to escalation); later runs only waited.
    async history(incidentId, pageSize, pageToken) {
      const { workflowId, firstRunId: runId } = await locate(incidentId);
      const response = await service.getWorkflowExecutionHistory({
        namespace,
        execution: { workflowId, runId },
        maximumPageSize: pageSize,
        nextPageToken: decodeToken(pageToken),
      });
      const json = JSON.parse(
        historyToJSON(temporal.api.history.v1.History.create({ events: response.history?.events ?? [] })),
      ) as { events?: unknown[] };
      return { events: json.events ?? [], nextPageToken: encodeToken(response.nextPageToken) };
    },

    async act(incidentId, action, body) {
      const { workflowId, runId, running } = await locate(incidentId);
      if (!running) throw new HttpProblem(409, 'Conflict', `incident ${incidentId} is already closed`);
      const handle = client.workflow.getHandle(workflowId, runId);
      try {
        switch (action) {
          case 'acknowledge':
            return await handle.signal(acknowledgeSignal, { by: body.by, role: body.role, note: body.note });
          case 'approve':
            return await handle.signal(approveSignal, {
              step: body.step!,
              by: body.by,
              role: body.role,
              note: body.note,
            });
          case 'reject':
            return await handle.signal(rejectSignal, {
              step: body.step!,
              by: body.by,
              role: body.role,
              note: body.note,
            });
          case 'resolve':
            return await handle.signal(resolveSignal, {
              by: body.by,
              role: body.role,
              note: body.note,
              undoContainment: body.undoContainment,
            });
          case 'cancel':
            return await handle.signal(cancelSignal, { by: body.by, role: body.role, note: body.note });
        }
      } catch (err) {
        if (err instanceof WorkflowNotFoundError)
          throw new HttpProblem(409, 'Conflict', `incident ${incidentId} is already closed`);
        throw err;
      }
    },
  };
}

const PHASES = INCIDENT_PHASES;

/** Incident counts by phase for /metrics, cached so scrapes do not hammer visibility. */
export function incidentCounter(
  client: Client,
  namespace: string,
  ttlMs = 15_000,
): () => Promise<Record<string, number>> {
  let cached: { at: number; counts: Record<string, number> } | undefined;
  return async () => {
    if (cached && Date.now() - cached.at < ttlMs) return cached.counts;
    const entries = await Promise.all(
      PHASES.map(async (phase) => {
        const response = await client.workflowService.countWorkflowExecutions({
          namespace,
          query: `${LATEST_RUNS} AND ${SEARCH_ATTRIBUTES.status.name} = "${phase}"`,
        });
        return [phase, Number(response.count ?? 0)] as const;
      }),
    );
    cached = { at: Date.now(), counts: Object.fromEntries(entries) };
    return cached.counts;
  };
}
