/**
 * The incident workflow's contract with the outside world: its input, the plan it follows, signals,
 * queries and the status it reports. Pure types and definitions, shared by the API and the worker.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { SealResult } from '../activities/contract';
import type {
  Alert,
  AlertTarget,
  ArtifactRef,
  ContainmentVerification,
  ControlSummary,
  IncomingAlert,
  Severity,
  TamperFlag,
} from '../common/types';

export type { IncomingAlert } from '../common/types';
import type { ContinuedIncident } from './incident-state';

export const INCIDENT_WORKFLOW = 'incidentWorkflow';
export const ESCALATION_WORKFLOW = 'escalationWorkflow';
export const NEXT_INCIDENT_WORKFLOW = 'nextIncidentWorkflow';

/**
 * The detached child through which a closing incident's run hands its late alerts (batch 1, 2, …) to the key's
 * next incident; its result names the run it opened, which the API shows as the closed incident's next one.
 */
export function nextIncidentWorkflowId(workflowId: string, closingRunId: string, batch: number): string {
  return `${workflowId}/next/${closingRunId}/${batch}`;
}

export interface IncidentInput {
  /** The correlation key; also the workflow id (see incidentWorkflowId). */
  key: string;
  target: AlertTarget;
  /** Usually empty: the API sends alerts in the `alerts` signal of signal-with-start, so a duplicate is never lost. */
  alerts: IncomingAlert[];
  /** Set only by the incident itself when it continues as new: what the next run resumes from. */
  continued?: ContinuedIncident;
  /**
   * The cluster's storm incident: alerts beyond the incident creation limits, about many targets. It acts on
   * nothing (no preserve, capture or containment): it keeps and counts them, seals them and pages once.
   */
  storm?: boolean;
}

/** An alert as the incident keeps it: identical repeats are folded into a count. */
export interface AlertRecord {
  alert: Alert;
  fingerprint: string;
  /** Occurrences: a re-send of an instance already seen (same sender id) is not one. */
  count: number;
  lastSeenAt: string;
  /** The sender's ids of the instances seen, most recent last (at most MAX_INSTANCE_IDS). */
  ids?: string[];
  /** Re-sends of an instance already seen (Alertmanager's repeat_interval, a republished finding). */
  resends?: number;
}

/** Delivered by the API: new distinct alerts, plus counts of repeats it coalesced. */
export interface AlertBatch {
  alerts: IncomingAlert[];
  /** Identical alerts the API folded: `count` new occurrences, `resends` re-sends of instances it had seen. */
  repeats?: Array<{ fingerprint: string; count: number; lastSeenAt: string; resends?: number }>;
}

export interface ApprovalDecision {
  step: string;
  /** The person whose token was used (the role's name for a role-only token). */
  by: string;
  /** The role the token carried; absent from signals sent before people were recorded. */
  role?: string;
  note?: string;
}
export interface Actor {
  /** The person whose token was used (the role's name for a role-only token), or "timeout", "auto-close". */
  by: string;
  role?: string;
  note?: string;
}
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

/** One page the escalation sent (or failed to send) to one notifier. */
export interface EscalationPage {
  tier: number;
  notifier: string;
  ok: boolean;
  error?: string;
}

/**
 * Escalation child → incident, by workflow id, so it reaches whichever run of the incident is current (it
 * continues as new while it waits): the pages of each tier as they go out, then the end.
 */
export interface EscalationReport {
  /** The incident the child pages for: a report that reaches a later incident on the same pod is ignored. */
  incidentId: string;
  pages: EscalationPage[];
  ended?: { acknowledgedBy?: string };
}
export const escalationReportSignal = defineSignal<[EscalationReport]>('escalationReport');

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
  decision?: { approved: boolean; by: string; role?: string; at: string; note?: string };
  /** A containment action checked from inside the pod: effective, not effective or unverified, and why. */
  verification?: ContainmentVerification;
}

export type IncidentPhase =
  | 'planning'
  | 'preserving'
  | 'capturing'
  | 'containing'
  | 'sealing'
  | 'escalating'
  | 'acknowledged'
  | 'resolved'
  | 'cancelled'
  | 'closed';

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
  /** Every occurrence received, repeats included; re-sends of an instance already seen are in `resends`. */
  alertCount: number;
  /** Notifications that re-sent an instance already seen: not occurrences. */
  resends?: number;
  /** Alerts counted but not kept (beyond the incident's count or byte bound); kept counts + this = alertCount. */
  alertsNotKept?: number;
  /** How many times the incident continued as new while it waited (each run's history stays bounded). */
  runs?: number;
  /**
   * The cluster's storm incident: alerts beyond the incident creation limits, about many targets, kept and
   * counted; nothing is done to their targets.
   */
  storm?: boolean;
  /**
   * How the incident ended when not by a responder or by itself: `target-not-found`, the pod the alert named
   * does not exist (closed after preserve; nothing captured, contained or sealed).
   */
  outcome?: 'target-not-found';
  /**
   * New alerts that arrived while the incident was closing (after a resolve, a cancel or its auto-close): not
   * counted here, handed to the key's next incident, which they open.
   */
  handedOver?: number;
  acknowledgedBy?: string;
  resolvedBy?: string;
  manifestKey?: string;
  /**
   * The exact manifest and signature versions this incident sealed, as the seal wrote them: the evidence route
   * serves these and nothing else, so a newer `manifest.json` or `manifest.sig` put in the bucket is ignored.
   * Absent from incidents sealed before it was recorded (their seal step still lists the manifest's SHA-256).
   */
  sealed?: SealedManifest;
  /** What the incident as a whole has to say, e.g. that containment started while captures still ran. */
  notes?: string[];
  /**
   * How evidence collection was interfered with (a stopped or killed collector, incomplete output, a forged
   * section), each finding once, bounded: also in the sealed manifest and in every later page.
   */
  tamper?: TamperFlag[];
  /** The suspect compared with a clean sibling (step `control`): the summary, or why it was skipped. */
  control?: ControlSummary;
  /**
   * Pages sent outside the escalation: the opening page, approval requests and a containment found not
   * effective, each to one tier-1 notifier.
   */
  notifications?: NotificationRecord[];
}

export interface SealedManifest {
  key: string;
  versionId?: string;
  sha256: string;
  size: number;
  signatureKey: string;
  signatureVersionId?: string;
  signatureSha256: string;
  keyId: string;
}

/** What an incident records of its seal (IncidentStatus.sealed). */
export function sealedManifestOf({ manifest, signature, keyId }: SealResult): SealedManifest {
  return {
    key: manifest.key,
    ...(manifest.versionId ? { versionId: manifest.versionId } : {}),
    sha256: manifest.sha256,
    size: manifest.size,
    signatureKey: signature.key,
    ...(signature.versionId ? { signatureVersionId: signature.versionId } : {}),
    signatureSha256: signature.sha256,
    keyId,
  };
}

export interface NotificationRecord {
  /** `containment`: a containment action was found not effective (tier 1 is told at once). */
  action: 'open' | 'approval' | 'containment';
  notifier: string;
  /** The gated step, for an approval request; the containment action, for `containment`. */
  step?: string;
  at: string;
  state: 'sending' | 'sent' | 'failed';
  error?: string;
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
