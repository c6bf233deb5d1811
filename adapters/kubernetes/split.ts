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

/**
 * Two Kubernetes identities behind one port: reads and collection run as the capture identity,
 * changes (preserve, isolate, cordon and their undo) as the containment identity, and the check of a change
 * from inside the pod (it execs in the collector) as the capture identity. A leaked capture
 * credential cannot quarantine or cordon anything, and a containment credential cannot exec into pods.
 */
export class SplitCluster implements Cluster {
  constructor(
    private readonly capturing: Cluster,
    private readonly containing: Cluster,
  ) {}

  inspect(target: PodRef, opts: CaptureOptions): Promise<CaptureStream[]> {
    return this.capturing.inspect(target, opts);
  }
  capture(name: string, target: PodRef, opts: CaptureOptions): Promise<CaptureStream[]> {
    return this.capturing.capture(name, target, opts);
  }
  change(name: string, target: ChangeTarget, opts: MutationOptions): Promise<ActionOutcome> {
    return this.containing.change(name, target, opts);
  }
  revert(name: string, target: ChangeTarget, opts: MutationOptions): Promise<ActionOutcome> {
    return this.containing.revert(name, target, opts);
  }
  /** As the capture identity: checking a containment from inside the pod execs in the collector. */
  verify(name: string, target: ChangeTarget, opts: VerifyOptions): Promise<ContainmentCheck> {
    return this.capturing.verify(name, target, opts);
  }
  /** Read as the containment identity: it checks the pin before a change (and undo of a node action). */
  pinPod(target: PodRef, pin?: PodPin): Promise<PodPin> {
    return this.containing.pinPod(target, pin);
  }
}
