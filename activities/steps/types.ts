import type { TSchema } from '@sinclair/typebox';
import { StepNotApplicable } from '../../common/failures';
import type { StepTimeouts } from '../../common/plan';
import type { AlertTarget, PodRef } from '../../common/types';
import type { StepResult } from '../contract';
import type { Cluster, EvidenceStore } from '../../common/ports';

export interface StepDeps {
  cluster: Cluster;
  evidence: EvidenceStore;
}

export interface StepContext {
  incidentId: string;
  target: AlertTarget;
  dryRun: boolean;
  params: Record<string, unknown>;
  deps: StepDeps;
  signal?: AbortSignal;
  /** Reports progress (e.g. bytes uploaded) so it shows in the incident status and the Temporal UI. */
  progress: (details: Record<string, unknown>) => void;
}

export interface RbacRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  /**
   * Which Kubernetes identity needs it: read and collect (capture) or change (containment). Defaults
   * to the step's: capture steps → capture, preserve and contain steps → containment.
   */
  identity?: KubernetesIdentity;
}

export type KubernetesIdentity = 'capture' | 'containment';

export function identityOf(step: Pick<StepDefinition, 'kind'>, rule: RbacRule): KubernetesIdentity {
  return rule.identity ?? (step.kind === 'capture' ? 'capture' : 'containment');
}

/**
 * One step of a playbook, describing itself like a falco-talon action: what it does, its parameters,
 * the RBAC it needs and an example. Registered in steps/registry.ts; the workflow runs it as the
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
