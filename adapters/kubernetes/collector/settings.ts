/** Which collector image to add and how long it lives. */
export interface CollectorConfig {
  /** A digest reference (`repo@sha256:…`); a tag alone only when allowTag (local development). */
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** How long the collector's idle process lives: ephemeral containers cannot be removed, only end. */
  lifetimeSeconds: number;
  readyTimeoutMs: number;
  /**
   * Local development only (HOLDFAST_COLLECTOR_ALLOW_TAG=1): a tag-only image is accepted and the image the
   * kubelet ran is not checked. Otherwise the image must be pinned by digest and every collector's imageID
   * must carry that digest before a capture runs in it.
   */
  allowTag?: boolean;
}

export const DEFAULT_COLLECTOR: CollectorConfig = {
  image: 'docker.io/holdfast/collector:local',
  imagePullPolicy: 'IfNotPresent',
  lifetimeSeconds: 4 * 3600,
  readyTimeoutMs: 90_000,
};

const DIGEST_REFERENCE = /^[a-z0-9][a-z0-9._\-/:]*@(sha256:[0-9a-f]{64})$/;

/** The digest an image reference pins (`sha256:<hex>`), or undefined for a tag (or anything else). */
export function pinnedDigest(image: string): string | undefined {
  return image.match(DIGEST_REFERENCE)?.[1];
}

/**
 * Why this collector configuration must not run, or undefined when it may: a tag can be moved to any image
 * (and `IfNotPresent` on a node without it pulls whatever the name holds), and that image runs as root with
 * SYS_PTRACE inside every suspect pod.
 */
export function collectorPinProblem(config: Pick<CollectorConfig, 'image' | 'allowTag'>): string | undefined {
  if (pinnedDigest(config.image) || config.allowTag) return undefined;
  return (
    `the collector image "${config.image.slice(0, 200)}" is not pinned by digest: set HOLDFAST_COLLECTOR_IMAGE to ` +
    "REPOSITORY@sha256:<digest> (the local cluster's is in $HOLDFAST_CACHE_DIR/images/collector.ref), or, for " +
    'local development only, HOLDFAST_COLLECTOR_ALLOW_TAG=1'
  );
}
