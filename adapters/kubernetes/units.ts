import type { Static, TObject } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { InvalidInput } from '../../common/failures';
import type { StepTimeouts } from '../../common/plan';
import type { ActionOutcome, CaptureStream, ChangeTarget, ContainmentCheck } from '../../common/ports';
import type { PodPin, PodRef } from '../../common/types';
import type { Kube } from './kube';

/*
 * A unit is one capture kind or one containment action, describing itself and implementing itself
 * in one file (like a falco-talon action). Listed in registry.ts, it becomes the step `step.<name>`
 * (and `undo.<name>` when it can be undone) with exactly this description, schema, RBAC and timeouts;
 * KubernetesCluster runs it by name.
 */

export type KubernetesIdentity = 'capture' | 'containment';

export interface RbacRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  /**
   * Which Kubernetes identity needs it: read and collect (capture) or change (containment). Defaults
   * to the unit's: captures → capture, preserve and contain actions → containment.
   */
  identity?: KubernetesIdentity;
  /**
   * Granted only by the optional ClusterRole `holdfast-<identity>-<optionalRole>` (deploy/rbac-<optionalRole>.yaml),
   * for a parameter that needs more than the identity's base role (the memory step's tryCheckpoint needs
   * nodes/proxy, which reaches the kubelet's /run and /exec on every node): an operator grants it only to use it.
   */
  optionalRole?: 'checkpoint';
}

interface UnitInfo<P extends TObject> {
  name: string;
  description: string;
  /** Parameters with their defaults, validated when the playbook loads; the unit receives them typed, defaults applied. */
  params: P;
  example: Record<string, unknown>;
  rbac: RbacRule[];
  timeouts: StepTimeouts;
}

/** How a unit runs: for which incident, as a dry run or not, and its cancellation. */
export interface UnitRun {
  incidentId: string;
  dryRun: boolean;
  /** The pod the incident is pinned to: a pod action refuses another pod of that name (PodReplaced). */
  pod?: PodPin;
  signal?: AbortSignal;
}

export interface CaptureSpec<P extends TObject> extends UnitInfo<P> {
  /** The evidence, as streams. In a dry run nothing in the cluster may change (reads may still run). */
  capture(kube: Kube, pod: PodRef, params: Static<P>, run: UnitRun): Promise<CaptureStream[]>;
}

/** What the registry holds for a capture: its typed implementation behind parameters as they travel. */
export interface CaptureUnit extends UnitInfo<TObject> {
  readonly kind: 'capture';
  capture(kube: Kube, pod: PodRef, params: Record<string, unknown>, run: UnitRun): Promise<CaptureStream[]>;
}

export type ActionScope = 'pod' | 'node';
/** A pod action receives the pod, a node action the node's name. */
export type ScopeTarget<S extends ActionScope> = S extends 'node' ? string : PodRef;

export interface ActionSpec<P extends TObject, S extends ActionScope> extends UnitInfo<P> {
  /** preserve runs first and also records the pod (evidence under preserve/); contain runs after the captures. */
  kind: 'preserve' | 'contain';
  /**
   * What it changes: the suspect pod, or the node (the alert's node, else the one the pod is scheduled
   * on). Pod actions are skipped, and say so, for host-level incidents; node actions still run.
   */
  target: S;
  /** Irreversible or service-affecting: playbooks must gate it behind an approval that defaults to reject. */
  requiresApproval?: boolean;
  /** Idempotent (safe to retry), honouring server-side dry run. */
  apply(kube: Kube, target: ScopeTarget<S>, params: Static<P>, run: UnitRun): Promise<ActionOutcome>;
  /** Reverses apply, and only what this incident did. */
  undo?(kube: Kube, target: ScopeTarget<S>, params: Static<P>, run: UnitRun): Promise<ActionOutcome>;
  /**
   * Checks, right after apply, that the change holds (a verdict and its evidence). Runs as the capture identity
   * (it may exec in the collector): its RBAC rules say `identity: 'capture'`. `appliedAt`: epoch ms.
   */
  verify?(
    kube: Kube,
    target: ScopeTarget<S>,
    params: Static<P>,
    run: UnitRun,
    appliedAt: number,
  ): Promise<ContainmentCheck>;
}

/** What the registry holds for an action. */
export interface ActionUnit extends UnitInfo<TObject> {
  readonly kind: 'preserve' | 'contain';
  target: ActionScope;
  needsPod: boolean;
  requiresApproval?: boolean;
  apply(kube: Kube, target: ChangeTarget, params: Record<string, unknown>, run: UnitRun): Promise<ActionOutcome>;
  undo?(kube: Kube, target: ChangeTarget, params: Record<string, unknown>, run: UnitRun): Promise<ActionOutcome>;
  verify?(
    kube: Kube,
    target: ChangeTarget,
    params: Record<string, unknown>,
    run: UnitRun,
    appliedAt: number,
  ): Promise<ContainmentCheck>;
}

export type KubernetesUnit = CaptureUnit | ActionUnit;

/**
 * The parameters as the unit's schema types them, defaults applied (the playbook loader applied them
 * already; a direct caller may pass fewer). Invalid ones are refused, not guessed at.
 */
export function paramsOf<P extends TObject>(
  unit: { name: string; params: P },
  raw: Record<string, unknown>,
): Static<P> {
  const value: unknown = Value.Default(unit.params, structuredClone(raw));
  const error = [...Value.Errors(unit.params, value)][0];
  if (error) throw new InvalidInput(`${unit.name}: params${error.path}: ${error.message}`);
  return value as Static<P>;
}

function scoped<S extends ActionScope>(unit: { name: string; target: S }, target: ChangeTarget): ScopeTarget<S> {
  if (target.kind !== unit.target)
    throw new InvalidInput(`${unit.name} acts on a ${unit.target}, not on a ${target.kind}`);
  return (target.kind === 'node' ? target.node : target.pod) as ScopeTarget<S>;
}

/** A capture unit from its description and typed implementation (one file under captures/). */
export function defineCapture<P extends TObject>(spec: CaptureSpec<P>): CaptureUnit {
  const { capture: _typed, ...info } = spec;
  return {
    ...info,
    kind: 'capture',
    capture: (kube, pod, params, run) => spec.capture(kube, pod, paramsOf(spec, params), run),
  };
}

/** An action unit from its description and typed implementation (one file under actions/). */
export function defineAction<P extends TObject, S extends ActionScope>(spec: ActionSpec<P, S>): ActionUnit {
  const { apply: _apply, undo, verify, ...info } = spec;
  const unit: ActionUnit = {
    ...info,
    needsPod: spec.target === 'pod',
    apply: (kube, target, params, run) => spec.apply(kube, scoped(spec, target), paramsOf(spec, params), run),
  };
  if (undo)
    unit.undo = (kube, target, params, run) => undo.call(spec, kube, scoped(spec, target), paramsOf(spec, params), run);
  if (verify)
    unit.verify = (kube, target, params, run, appliedAt) =>
      verify.call(spec, kube, scoped(spec, target), paramsOf(spec, params), run, appliedAt);
  return unit;
}
