/**
 * The incident workflow's contract with the outside world: its input, the plan it follows, signals,
 * queries and the status it reports. Pure types and definitions, shared by the API and the worker.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { Alert, AlertTarget, ArtifactRef, Severity } from '../common/types';

export const INCIDENT_WORKFLOW = 'incidentWorkflow';
export const ESCALATION_WORKFLOW = 'escalationWorkflow';

export interface IncidentInput {
  /** The correlation key; also the workflow id (see incidentWorkflowId). */
  key: string;
  target: AlertTarget;
  /** Usually empty: the API sends alerts in the `alerts` signal of signal-with-start, so a duplicate is never lost. */
  alerts: IncomingAlert[];
}

/** An alert plus the fingerprint the API computed for it (identical alerts share one). */
export interface IncomingAlert {
  alert: Alert;
  fingerprint: string;
}

/** An alert as the incident keeps it: identical repeats are folded into a count. */
export interface AlertRecord {
  alert: Alert;
  fingerprint: string;
  count: number;
  lastSeenAt: string;
}

/** Delivered by the API: new distinct alerts, plus counts of repeats it coalesced. */
export interface AlertBatch {
  alerts: IncomingAlert[];
  repeats?: Array<{ fingerprint: string; count: number; lastSeenAt: string }>;
}

export interface ApprovalDecision { step: string; by: string; note?: string }
export interface Actor { by: string; note?: string }
export interface ResolveRequest extends Actor {
  /** Undo containment (remove isolation, uncordon); defaults to the playbook's setting. */
  undoContainment?: boolean;
}

export const alertsSignal = defineSignal<[AlertBatch]>('alerts');
export const approveSignal = defineSignal<[ApprovalDecision]>('approve');
export const rejectSignal = defineSignal<[ApprovalDecision]>('reject');
export const acknowledgeSignal = defineSignal<[Actor]>('acknowledge');
export const resolveSignal = defineSignal<[ResolveRequest]>('resolve');
export const cancelSignal = defineSignal<[Actor]>('cancel');

/** Escalation child: stop paging. */
export const stopEscalationSignal = defineSignal<[Actor]>('stopEscalation');

// ---- The plan: which steps, with which parameters and gates. Chosen by the planIncident activity. ----

export interface StepTimeouts {
  /** Whole activity attempt. */
  startToCloseSeconds: number;
  /** Long steps heartbeat; a silent one is retried. 0 = no heartbeat expected. */
  heartbeatSeconds: number;
  maximumAttempts: number;
}

export interface PlannedStep {
  name: string;
  params: Record<string, unknown>;
  timeouts: StepTimeouts;
  /** Skipped without asking anyone when the incident has no pod (host alert). */
  needsPod?: boolean;
}

export interface ApprovalGate {
  required: boolean;
  timeoutSeconds: number;
  /** What happens when nobody decides in time. */
  onTimeout: 'approve' | 'reject';
}

export interface PlannedContainment extends PlannedStep {
  approval: ApprovalGate;
}

export interface EscalationTier {
  /** Names of configured notifiers to page at this tier. */
  notifiers: string[];
  /** Wait this long for an acknowledgement before paging the next tier. */
  ackTimeoutSeconds: number;
}

export interface IncidentPlan {
  playbook: string;
  dryRun: boolean;
  preserve: PlannedStep | null;
  captures: PlannedStep[];
  containment: PlannedContainment[];
  escalation: { tiers: EscalationTier[]; repeatLastTier: number };
  undoContainmentOnResolve: boolean;
  /** Close the incident by itself after this long without resolution (0 = never). */
  autoCloseAfterHours: number;
  /** Link base for notifications (the API's public URL). */
  apiBaseUrl: string;
}

// ---- Status ----

export type StepState = 'pending' | 'running' | 'awaiting-approval' | 'succeeded' | 'failed' | 'skipped';

export interface StepStatus {
  name: string;
  kind: 'plan' | 'preserve' | 'capture' | 'contain' | 'seal' | 'escalate' | 'undo';
  state: StepState;
  startedAt?: string;
  endedAt?: string;
  error?: string;
  artifacts: Array<Pick<ArtifactRef, 'name' | 'key' | 'size' | 'sha256'>>;
  notes: string[];
  decision?: { approved: boolean; by: string; at: string; note?: string };
}

export type IncidentPhase =
  | 'planning' | 'preserving' | 'capturing' | 'containing' | 'sealing' | 'escalating' | 'acknowledged'
  | 'resolved' | 'cancelled' | 'closed';

export interface IncidentStatus {
  incidentId: string;
  key: string;
  phase: IncidentPhase;
  severity: Severity;
  target: AlertTarget;
  playbook?: string;
  dryRun: boolean;
  startedAt: string;
  endedAt?: string;
  steps: StepStatus[];
  alertCount: number;
  acknowledgedBy?: string;
  resolvedBy?: string;
  manifestKey?: string;
}

export const statusQuery = defineQuery<IncidentStatus>('status');
export const alertsQuery = defineQuery<AlertRecord[]>('alerts');

/** The deterministic workflow id for a target: the correlation key while an incident is open. */
export function incidentWorkflowId(target: AlertTarget): string {
  if (target.namespace && target.pod) return `incident/${target.cluster}/${target.namespace}/${target.pod}`;
  return `incident/${target.cluster}/node/${target.node ?? 'unknown'}`;
}

/** Incident ids are derived from the run id: unique per incident, valid in S3 keys and URLs. */
export function incidentIdFromRunId(runId: string): string {
  return `inc-${runId}`;
}

export function runIdFromIncidentId(incidentId: string): string | undefined {
  const match = /^inc-([0-9a-f-]{36})$/.exec(incidentId);
  return match?.[1];
}

const SEVERITY_RANK: Record<Severity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };
export function maxSeverity(a: Severity, b: Severity): Severity {
  return SEVERITY_RANK[a] >= SEVERITY_RANK[b] ? a : b;
}
export function severityAtLeast(value: Severity, minimum: Severity): boolean {
  return SEVERITY_RANK[value] >= SEVERITY_RANK[minimum];
}
