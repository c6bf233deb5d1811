/**
 * The activity contract: every activity the workflows call, by name and signature. Workflows import
 * this module type-only (lint enforces it); createActivities(deps) is checked against it.
 */
import type { IncidentPlan } from '../common/plan';
import type { PreflightOptions, PreflightReport } from '../common/preflight';
import type { NotificationEvent } from '../common/ports';
import type { PredicateStep } from '../evidence/attestation';
import type {
  Alert,
  AlertTally,
  AlertTarget,
  ArtifactRef,
  ContainmentVerification,
  ControlSummary,
  IncomingAlert,
  PodPin,
  TamperFlag,
} from '../common/types';

// ---- planIncident ----

/** `storm`: the cluster's storm incident (alerts beyond the creation limits), planned to act on nothing. */
export type PlanActivity = (input: { target: AlertTarget; alerts: Alert[]; storm?: boolean }) => Promise<IncidentPlan>;

// ---- step.<name> and undo.<name>: one pair per registered step (activities/steps/registry.ts) ----

export interface StepActivityInput {
  incidentId: string;
  target: AlertTarget;
  dryRun: boolean;
  params: Record<string, unknown>;
  /** The pod the incident is pinned to, once a step pinned it (preserve, else the first pod change). */
  pod?: PodPin;
}

export interface StepResult {
  artifacts: ArtifactRef[];
  notes: string[];
  /** For mutating steps: whether the cluster was (or, in dry-run, would have been) changed. */
  changed?: boolean;
  /** The pod this step pinned or checked; the workflow pins the incident to the first one reported. */
  pod?: PodPin;
  /** A containment action checked from inside the pod (isolate): whether it holds, and why. */
  verification?: ContainmentVerification;
  /**
   * How collecting this step's evidence was interfered with (bounded: TAMPER_LIMITS). A step that failed
   * because of it reports it through its failure (CollectorStalled, CollectorInterfered) instead.
   */
  tamper?: TamperFlag[];
  /** The control sample's comparison (step `control`): shown first in the status and in later pages. */
  control?: ControlSummary;
}

export type StepActivity = (input: StepActivityInput) => Promise<StepResult>;

/** `step.<name>` runs a step, `undo.<name>` reverses it where it can. */
export type StepActivityName = `step.${string}` | `undo.${string}`;

// ---- notify ----

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

// ---- sealEvidence ----

/** What the incident workflow hands the sealing activity once every capture has ended. */
export interface SealInput {
  incidentId: string;
  workflowId: string;
  runId: string;
  /** The alerts the incident kept (bounded in count and bytes). */
  alerts: Alert[];
  /** How many alerts arrived in all, how many distinct ones were kept, and how many were only counted. */
  alertTally?: AlertTally;
  target: AlertTarget;
  artifacts: ArtifactRef[];
  failures: Array<{ step: string; error: string }>;
  /** The incident's tamper flags (absent from incidents sealed before they existed). */
  tamper?: TamperFlag[];
  /** The alert request bodies the incident kept, exactly as received (base64), by their SHA-256. */
  rawBodies?: RawBody[];
  /** The workflow's steps (names, states, times, decisions), for the attestation's predicate. */
  steps?: PredicateStep[];
}

/** A request body as the API received it: stored as evidence under `intake/<sha256>.json`. */
export interface RawBody {
  sha256: string;
  base64: string;
}

export interface StoredObject {
  key: string;
  versionId?: string;
  size: number;
  sha256: string;
}

export interface SealResult {
  manifest: StoredObject;
  signature: StoredObject;
  keyId: string;
  /** The DSSE envelope (in-toto statement) and its RFC 3161 timestamp, from seals since they exist. */
  attestation?: StoredObject;
  timestamp?: StoredObject & { genTime: string };
  /** Why there is no timestamp (no TSA configured, or it failed or was slow: sealing went on without it). */
  timestampNote?: string;
}

export type SealActivity = (input: SealInput) => Promise<SealResult>;

// ---- openNextIncident ----

/** Alerts that arrived while an incident was closing: they open the key's next incident once it has closed. */
export interface NextIncidentInput {
  /** The correlation key (workflow id) and target of the closed incident. */
  key: string;
  target: AlertTarget;
  /** The task queue of the worker serving the target's cluster. */
  taskQueue: string;
  /** The closing run: while it still runs, the activity waits (retries). */
  afterRunId: string;
  alerts: IncomingAlert[];
}

export type NextIncidentActivity = (input: NextIncidentInput) => Promise<{ runId: string }>;

// ---- storageSelfTest ----

export interface StorageSelfTestResult {
  key: string;
  versionId: string;
  sha256: string;
  retainUntil: string;
  readBackMatches: boolean;
  lockedDeleteRefused: boolean;
  refusal: string;
}

export type StorageSelfTestActivity = (probeId: string) => Promise<StorageSelfTestResult>;

// ---- preflight ----

/** The readiness checks, run by the worker that serves the cluster, as its own identities. */
export type PreflightActivity = (options: PreflightOptions) => Promise<PreflightReport>;

/** The activities with fixed names. */
export interface NamedActivities {
  planIncident: PlanActivity;
  sealEvidence: SealActivity;
  notify: NotifyActivity;
  storageSelfTest: StorageSelfTestActivity;
  openNextIncident: NextIncidentActivity;
  preflight: PreflightActivity;
}

/** Everything the worker registers: the named activities plus one step (and undo) activity per step. */
export type HoldfastActivities = NamedActivities & Record<StepActivityName, StepActivity>;
