import type * as k8s from '@kubernetes/client-node';
import { Unsupported } from '../../common/failures';
import type {
  ActionOutcome,
  CaptureOptions,
  CaptureStream,
  ChangeTarget,
  Cluster,
  ContainmentCheck,
  MutationOptions,
  VerifyOptions,
} from '../../common/ports';
import type { PodPin, PodRef } from '../../common/types';
import { DEFAULT_COLLECTOR, type CollectorConfig } from './collector/settings';
import { inspectPod } from './inspect';
import { kubeFor, type Kube } from './kube';
import { pinOf, readPinnedPod } from './pods';
import { KUBERNETES_UNITS } from './registry';
import type { ActionUnit, CaptureUnit, KubernetesUnit, UnitRun } from './units';

const runOf = (opts: MutationOptions): UnitRun => ({
  incidentId: opts.incidentId,
  dryRun: opts.dryRun,
  ...(opts.pod ? { pod: opts.pod } : {}),
  signal: opts.signal,
});

/**
 * The Cluster port on @kubernetes/client-node: runs the registered units by name. Changes are
 * idempotent (safe to retry) and honour server-side dry run; reads are bounded.
 */
export class KubernetesCluster implements Cluster {
  private readonly kube: Kube;

  constructor(
    kc: k8s.KubeConfig,
    collector: CollectorConfig = DEFAULT_COLLECTOR,
    private readonly units: readonly KubernetesUnit[] = KUBERNETES_UNITS,
  ) {
    this.kube = kubeFor(kc, collector);
  }

  async pinPod(target: PodRef, pin?: PodPin): Promise<PodPin> {
    return pinOf(await readPinnedPod(this.kube, target, pin));
  }

  async inspect(target: PodRef, opts: CaptureOptions): Promise<CaptureStream[]> {
    if (opts.pod) await readPinnedPod(this.kube, target, opts.pod);
    return inspectPod(this.kube, target);
  }

  async capture(name: string, target: PodRef, opts: CaptureOptions): Promise<CaptureStream[]> {
    const unit = this.units.find((u): u is CaptureUnit => u.kind === 'capture' && u.name === name);
    if (!unit) throw new Unsupported(`no capture named ${name}`);
    // A pod recreated under the suspect's name since the incident pinned it is refused before any collector
    // is added to it (the collector itself is added by name: the window left is this read to that request).
    if (opts.pod) await readPinnedPod(this.kube, target, opts.pod);
    return unit.capture(this.kube, target, opts.params, {
      incidentId: opts.incidentId,
      dryRun: opts.dryRun ?? false,
      ...(opts.pod ? { pod: opts.pod } : {}),
      signal: opts.signal,
    });
  }

  async change(name: string, target: ChangeTarget, opts: MutationOptions): Promise<ActionOutcome> {
    return this.action(name).apply(this.kube, target, opts.params, runOf(opts));
  }

  async revert(name: string, target: ChangeTarget, opts: MutationOptions): Promise<ActionOutcome> {
    const unit = this.action(name);
    if (!unit.undo) throw new Unsupported(`${name} cannot be undone`);
    return unit.undo(this.kube, target, opts.params, runOf(opts));
  }

  async verify(name: string, target: ChangeTarget, opts: VerifyOptions): Promise<ContainmentCheck> {
    const unit = this.action(name);
    if (!unit.verify) throw new Unsupported(`${name} has no containment check`);
    return unit.verify(this.kube, target, opts.params, runOf(opts), opts.appliedAt);
  }

  private action(name: string): ActionUnit {
    const unit = this.units.find((u): u is ActionUnit => u.kind !== 'capture' && u.name === name);
    if (!unit) throw new Unsupported(`no action named ${name}`);
    return unit;
  }
}
