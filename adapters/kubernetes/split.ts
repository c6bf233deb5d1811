import type { ActionOutcome, CaptureOptions, CaptureStream, Cluster, MutationOptions } from '../../common/ports';
import type { PodRef } from '../../common/types';

/**
 * Two Kubernetes identities behind one port: reads and collection run as the capture identity,
 * changes (preserve, isolate, cordon and their undo) as the containment identity. A leaked capture
 * credential cannot quarantine or cordon anything, and a containment credential cannot exec into pods.
 */
export class SplitCluster implements Cluster {
  constructor(private readonly capturing: Cluster, private readonly containing: Cluster) {}

  inspect(target: PodRef, opts: CaptureOptions): Promise<CaptureStream[]> { return this.capturing.inspect(target, opts); }
  capture(kind: 'filesystem' | 'memory' | 'logs' | 'network', target: PodRef, opts: CaptureOptions): Promise<CaptureStream[]> {
    return this.capturing.capture(kind, target, opts);
  }
  preserve(target: PodRef, opts: MutationOptions): Promise<ActionOutcome> { return this.containing.preserve(target, opts); }
  isolate(target: PodRef, opts: MutationOptions): Promise<ActionOutcome> { return this.containing.isolate(target, opts); }
  unisolate(target: PodRef, opts: MutationOptions): Promise<ActionOutcome> { return this.containing.unisolate(target, opts); }
  cordon(node: string, opts: MutationOptions): Promise<ActionOutcome> { return this.containing.cordon(node, opts); }
  uncordon(node: string, opts: MutationOptions): Promise<ActionOutcome> { return this.containing.uncordon(node, opts); }
  nodeOf(target: PodRef): Promise<string | undefined> { return this.containing.nodeOf(target); }
  deletePod(target: PodRef, opts: MutationOptions): Promise<ActionOutcome> { return this.containing.deletePod(target, opts); }
  scaleToZero(target: PodRef, opts: MutationOptions): Promise<ActionOutcome> { return this.containing.scaleToZero(target, opts); }
  restoreScale(target: PodRef, opts: MutationOptions): Promise<ActionOutcome> { return this.containing.restoreScale(target, opts); }
}
