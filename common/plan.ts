/**
 * The plan an incident follows: which steps, with which parameters, timeouts and gates, and whom to page.
 * Chosen by the planIncident activity from the playbooks; carried in the workflow history. Pure types.
 */

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

/** How long containment waits for the captures by default before it proceeds while they go on. */
export const DEFAULT_CONTAIN_AFTER_SECONDS = 120;

export interface IncidentPlan {
  playbook: string;
  dryRun: boolean;
  preserve: PlannedStep | null;
  captures: PlannedStep[];
  containment: PlannedContainment[];
  escalation: { tiers: EscalationTier[]; repeatLastTier: number };
  undoContainmentOnResolve: boolean;
  /**
   * Page tier 1 as soon as the incident is planned and the pod preserved. Unset: page when the incident's
   * severity is high or above at that moment.
   */
  pageOnOpen?: boolean;
  /**
   * Containment waits for the captures at most this long, then proceeds while they go on (the seal still
   * waits for all of them): a capture the attacker stalls cannot hold the pod on the network. Unset in
   * plans made before it existed; those incidents wait for every capture.
   */
  containAfterSeconds?: number;
  /** Close the incident by itself after this long without resolution (0 = never). */
  autoCloseAfterHours: number;
  /** When the pod the alert names does not exist: page tier 1 about it (default: only record it and close). */
  pageIfTargetNotFound?: boolean;
  /** What the planner changed in the playbook's plan and why (a protected namespace, a storm), in its own words. */
  notes?: string[];
  /** Link base for notifications (the API's public URL). */
  apiBaseUrl: string;
}
