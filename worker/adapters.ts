import type { S3Client } from '@aws-sdk/client-s3';
import type { ActivityDeps } from '../activities';
import { unavailableCluster } from '../activities/kubernetes/unavailable';
import { loadPlaybooks } from '../activities/playbooks';
import type { HoldfastConfig } from '../common/config';

/** Builds the real adapters from configuration. Each is replaceable in tests through createWorker's overrides. */
export function buildAdapters(config: HoldfastConfig, s3: S3Client): Omit<ActivityDeps, 'config' | 's3'> {
  void s3;
  const playbooks = loadPlaybooks(process.env.HOLDFAST_PLAYBOOKS || undefined, { apiBaseUrl: publicApiUrl(config) });
  return {
    cluster: unavailableCluster('the Kubernetes adapter is not configured in this build'),
    evidence: {
      putArtifact: async () => { throw new Error('evidence store not wired'); },
      getArtifact: async () => { throw new Error('evidence store not wired'); },
    },
    notifiers: new Map(),
    playbooks,
    sealEvidence: async () => { throw new Error('sealing not wired'); },
  };
}

export function publicApiUrl(config: HoldfastConfig): string {
  return (process.env.HOLDFAST_PUBLIC_URL ?? `http://${config.api.host}:${config.api.port}`).replace(/\/+$/, '');
}
