import { ClusterUnavailable } from '../../common/failures';
import type { Cluster } from '../../common/ports';

/**
 * The cluster when Holdfast has no Kubernetes access: every step fails fast and non-retryably with the
 * reason, so incidents still seal what they have and escalate instead of retrying for hours.
 */
export function unavailableCluster(reason: string): Cluster {
  const fail = async (): Promise<never> => {
    throw new ClusterUnavailable(reason);
  };
  return { inspect: fail, capture: fail, change: fail, revert: fail, verify: fail, pinPod: fail };
}
