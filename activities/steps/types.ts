import type { TSchema } from '@sinclair/typebox';
import { StepNotApplicable } from '../../common/failures';
import type { StepTimeouts } from '../../common/plan';
import type { AlertTarget, PodPin, PodRef } from '../../common/types';
import type { StepResult } from '../contract';
import type { Cluster, EvidenceStore } from '../../common/ports';
import type { KubernetesIdentity, RbacRule } from '../../adapters/kubernetes/units';

// What a step's RBAC declarations are: the units declare them (adapters/kubernetes/units.ts).
export type { KubernetesIdentity, RbacRule };

export interface StepDeps {
  cluster: Cluster;
  evidence: EvidenceStore;
  /**
   * The name of the cluster `cluster` reaches (HOLDFAST_CLUSTER_NAME): a step for a target in another cluster is
   * refused, never run against this one. Unset: not checked (unit tests of one step).
   */
  clusterName?: string;
}

export interface StepContext {
  incidentId: string;
  target: AlertTarget;
  dryRun: boolean;
  params: Record<string, unknown>;
  /** The pod the incident is pinned to (from the workflow), once a step pinned it. */
  pod?: PodPin;
  deps: StepDeps;
  signal?: AbortSignal;
  /** Reports progress (e.g. bytes uploaded) so it shows in the incident status and the Temporal UI. */
  progress: (details: Record<string, unknown>) => void;
}

export function identityOf(step: Pick<StepDefinition, 'kind'>, rule: RbacRule): KubernetesIdentity {
  return rule.identity ?? (step.kind === 'capture' ? 'capture' : 'containment');
}

/**
 * One step of a playbook: what it does, its parameters, the RBAC it needs and an example, as the
 * Kubernetes unit it comes from describes itself (steps/registry.ts). The workflow runs it as the
 * activity `step.<name>` (and `undo.<name>` when it can be undone).
 */
export interface StepDefinition {
  name: string;
  kind: 'preserve' | 'capture' | 'contain';
  description: string;
  /** Parameters with their defaults; validated when the playbook loads. */
  params: TSchema;
  example: Record<string, unknown>;
  rbac: RbacRule[];
  timeouts: StepTimeouts;
  /** Steps that need a pod are skipped (and say so) for host-level incidents. */
  needsPod: boolean;
  /** Irreversible or service-affecting: playbooks must gate it behind an approval that defaults to reject. */
  requiresApproval?: boolean;
  run(ctx: StepContext): Promise<StepResult>;
  undo?(ctx: StepContext): Promise<StepResult>;
}

export function podOf(target: AlertTarget): PodRef {
  if (!target.namespace || !target.pod) throw new StepNotApplicable('this incident has no pod (host-level alert)');
  return { cluster: target.cluster, namespace: target.namespace, pod: target.pod, container: target.container };
}
