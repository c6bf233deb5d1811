import type {
  ActionOutcome,
  CaptureOptions,
  CaptureStream,
  ChangeTarget,
  Cluster,
  MutationOptions,
} from '../../common/ports';
import type { PodRef } from '../../common/types';

/**
 * Two Kubernetes identities behind one port: reads and collection run as the capture identity,
 * changes (preserve, isolate, cordon and their undo) as the containment identity. A leaked capture
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
  nodeOf(target: PodRef): Promise<string | undefined> {
    return this.containing.nodeOf(target);
  }
}
