import type { PreflightCheck } from '../../common/preflight';
import type { KubernetesIdentity, KubernetesUnit } from '../kubernetes/units';

/*
 * What the preflight checks receive: narrow ports, so each check's judgement is unit-tested with fakes
 * (test/unit/preflight.test.ts) and the real probes (probe-kube.ts, probe-stores.ts) are proven on the local
 * cluster and the real S3 and Temporal servers.
 */

/**
 * The end of an identity's `source` when its credentials are also those that create the throwaway objects
 * (KUBECONFIG standing in for both identities): the rbac check then says its pass proves little.
 */
export const SHARED_WITH_PROBE = '(shared with the throwaway objects)';

/** One RBAC question, as a SubjectAccessReview's resourceAttributes ask it. */
export interface AccessQuestion {
  group: string;
  resource: string;
  subresource?: string;
  verb: string;
  /** Unset for cluster-scoped resources (nodes). */
  namespace?: string;
}

export interface AccessAnswer {
  allowed: boolean;
  /** The authorizer's reason, bounded. */
  reason?: string;
}

/** One of the worker's Kubernetes identities, asking the API server what it may do (SelfSubjectAccessReview). */
export interface IdentityAccess {
  identity: KubernetesIdentity;
  /** Where its credentials come from (a kubeconfig path, a token file), for the report. */
  source: string;
  review(question: AccessQuestion, signal: AbortSignal): Promise<AccessAnswer>;
}

/** A step some playbook runs, with the parameters it runs with (defaults applied). */
export interface EnabledStep {
  name: string;
  params: Record<string, unknown>;
  /** The playbooks that run it. */
  playbooks: string[];
}

/** Why the collector could not be tried, or what it did. */
export type CollectorProbeResult =
  | { outcome: 'pod-refused'; message: string }
  | { outcome: 'not-started'; reason: string }
  | { outcome: 'refused'; by: 'pod-security' | 'admission-policy' | 'rbac' | 'other'; message: string }
  | { outcome: 'unverified'; message: string }
  | { outcome: 'ran'; ptrace: boolean; detail: string };

export type NetworkPolicyProbeResult =
  | { outcome: 'not-started'; reason: string }
  | { outcome: 'probed'; reachableBefore: boolean; reachableWithDeny: boolean; detail: string };

/** The kubelet checkpoint API's answer to a throwaway pod, reduced to our own words. */
export interface CheckpointProbeResult {
  /** HTTP status (0: no answer). */
  status: number;
  /** Our classification of the answer; never the node's text verbatim. */
  reason: string;
  supported: boolean;
}

/**
 * Throwaway objects in a chosen namespace, created as the operator (the worker's identities may not create
 * pods), labelled `holdfast.io/preflight`, always removed, and swept at the start of the next run if a run
 * crashed. The collector itself is added as the capture identity: admission and RBAC see the real caller.
 */
export interface ClusterProbe {
  /** The operator's kubeconfig (or in-cluster identity), for the report. */
  source: string;
  namespaceLabels(namespace: string, signal: AbortSignal): Promise<Record<string, string>>;
  collector(namespace: string, signal: AbortSignal): Promise<CollectorProbeResult>;
  networkPolicy(namespace: string, signal: AbortSignal): Promise<NetworkPolicyProbeResult>;
  checkpoint(namespace: string, signal: AbortSignal): Promise<CheckpointProbeResult>;
  /** The API server's Date header and the local clock around the request (ms). */
  serverTime(signal: AbortSignal): Promise<TimeSample>;
  /** Removes every throwaway object (by label) in the namespace; returns what was removed. */
  sweep(namespace: string, signal: AbortSignal): Promise<string[]>;
}

/** A remote Date header with the local clock just before and after the request. */
export interface TimeSample {
  remote: Date;
  sentAt: number;
  receivedAt: number;
}

export interface BucketProbe {
  bucket: string;
  objectLock(signal: AbortSignal): Promise<{ enabled: boolean; mode?: string; days?: number; years?: number }>;
  serverTime(signal: AbortSignal): Promise<TimeSample>;
}

export interface TemporalProbe {
  namespace: string;
  /** Throws when the namespace does not answer. */
  describeNamespace(signal: AbortSignal): Promise<void>;
  /** Custom search attributes registered in the namespace: name → type (KEYWORD, TEXT, …). */
  searchAttributes(signal: AbortSignal): Promise<Record<string, string>>;
}

export interface PreflightDeps {
  /** The worker's identities; empty when none is configured. */
  identities: IdentityAccess[];
  /** Throwaway-object probes; undefined without operator access to the cluster (the reason says why). */
  probe?: ClusterProbe;
  noProbeReason?: string;
  bucket?: BucketProbe;
  temporal?: TemporalProbe;
  /** Namespace of the throwaway pods (and of the namespaced RBAC questions). */
  namespace: string;
  collector: { image: string; allowTag?: boolean };
  retention: { mode: 'GOVERNANCE' | 'COMPLIANCE'; days: number };
  /** The steps the enabled playbooks run. */
  enabledSteps: EnabledStep[];
  /** Every unit (their RBAC declarations): adapters/kubernetes/registry.ts. */
  units: readonly KubernetesUnit[];
  /** Search attributes incidents keep: name → type. */
  searchAttributes: Record<string, string>;
  /** Largest clock difference tolerated, in ms. */
  maxSkewMs: number;
  now: () => number;
}

export type Check = PreflightCheck<PreflightDeps>;

/** The label every throwaway object carries (its value: the run). */
export const PREFLIGHT_LABEL = 'holdfast.io/preflight';
