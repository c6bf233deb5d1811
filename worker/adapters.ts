import type { S3Client } from '@aws-sdk/client-s3';
import type { ActivityDeps } from '../activities';
import { createEvidenceServices } from '../activities/evidence';
import * as k8s from '@kubernetes/client-node';
import { KubernetesCluster } from '../activities/kubernetes/cluster';
import { collectorConfigFromEnv } from '../activities/kubernetes/collector';
import { unavailableCluster } from '../activities/kubernetes/unavailable';
import type { Cluster } from '../activities/ports';
import { createNotifiers, notifierConfigsFromEnv, parseNotifierConfigs } from '../activities/notifiers/registry';
import { loadPlaybooks } from '../activities/playbooks';
import type { Logger } from '../common/logger';
import type { HoldfastConfig } from '../common/config';

/** Builds the real adapters from configuration. Each is replaceable in tests through createWorker's overrides. */
export function buildAdapters(config: HoldfastConfig, s3: S3Client, logger?: Logger): Omit<ActivityDeps, 'config' | 's3'> {
  // Notifiers come from the playbooks file's `notifiers:` and from HOLDFAST_NOTIFIERS(_FILE).
  const envNotifiers = notifierConfigsFromEnv(process.env);
  const playbooks = loadPlaybooks(process.env.HOLDFAST_PLAYBOOKS || undefined, { apiBaseUrl: publicApiUrl(config), knownNotifiers: envNotifiers.map((n) => n.name) });
  const notifierConfigs = [...parseNotifierConfigs(JSON.stringify(playbooks.notifiers)), ...envNotifiers];
  const evidence = createEvidenceServices(config, s3);
  if (evidence.signingKeyCreated) logger?.info({ file: evidence.signingKeyFile, keyId: evidence.signer.keyId }, 'generated the manifest signing key (mode 0600)');
  // Publish the public key now so GET /v1/keys lists it before the first incident is sealed.
  void evidence.publishSigningKey().catch((err: unknown) => logger?.warn({ err }, 'could not publish the signing key yet; sealing will retry'));
  return {
    cluster: clusterFromEnvironment(),
    evidence: evidence.store,
    notifiers: createNotifiers(notifierConfigs, { env: process.env, logger }),
    playbooks,
    sealEvidence: evidence.sealEvidence,
  };
}

export function publicApiUrl(config: HoldfastConfig): string {
  return (process.env.HOLDFAST_PUBLIC_URL ?? `http://${config.api.host}:${config.api.port}`).replace(/\/+$/, '');
}

/** KUBECONFIG, else the in-cluster service account; without either, steps fail fast and say why. */
function clusterFromEnvironment(): Cluster {
  if (!process.env.KUBECONFIG && !process.env.KUBERNETES_SERVICE_HOST) {
    return unavailableCluster('no Kubernetes access configured (set KUBECONFIG, or run in a cluster)');
  }
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  return new KubernetesCluster(kc, collectorConfigFromEnv(process.env));
}
