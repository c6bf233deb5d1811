import type * as k8s from '@kubernetes/client-node';
import { Unsupported } from '../../common/failures';
import type {
  ActionOutcome,
  CaptureOptions,
  CaptureStream,
  ChangeTarget,
  Cluster,
  MutationOptions,
} from '../../common/ports';
import type { PodRef } from '../../common/types';
import { DEFAULT_COLLECTOR, type CollectorConfig } from './collector/settings';
import { inspectPod } from './inspect';
import { kubeFor, type Kube } from './kube';
import { readPod } from './pods';
import { KUBERNETES_UNITS } from './registry';
import type { ActionUnit, CaptureUnit, KubernetesUnit, UnitRun } from './units';

const runOf = (opts: MutationOptions): UnitRun => ({
  incidentId: opts.incidentId,
  dryRun: opts.dryRun,
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

  async nodeOf(target: PodRef): Promise<string | undefined> {
    return (await readPod(this.kube, target)).spec?.nodeName;
  }

  inspect(target: PodRef, _opts: CaptureOptions): Promise<CaptureStream[]> {
    return inspectPod(this.kube, target);
  }

  async capture(name: string, target: PodRef, opts: CaptureOptions): Promise<CaptureStream[]> {
    const unit = this.units.find((u): u is CaptureUnit => u.kind === 'capture' && u.name === name);
    if (!unit) throw new Unsupported(`no capture named ${name}`);
    return unit.capture(this.kube, target, opts.params, {
      incidentId: opts.incidentId,
      dryRun: opts.dryRun ?? false,
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

  private action(name: string): ActionUnit {
    const unit = this.units.find((u): u is ActionUnit => u.kind !== 'capture' && u.name === name);
    if (!unit) throw new Unsupported(`no action named ${name}`);
    return unit;
  }
}
