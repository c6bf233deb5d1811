import type { S3Client } from '@aws-sdk/client-s3';
import type { ActivityDeps } from '../activities';
import { createEvidenceServices } from '../evidence';
import * as k8s from '@kubernetes/client-node';
import { KubernetesCluster } from '../adapters/kubernetes/cluster';
import { collectorConfigFromEnv } from '../adapters/kubernetes/collector/settings';
import { SplitCluster } from '../adapters/kubernetes/split';
import { unavailableCluster } from '../adapters/kubernetes/unavailable';
import type { Cluster } from '../common/ports';
import { createNotifiers, notifierConfigsFromEnv, parseNotifierConfigs } from '../adapters/notifiers/registry';
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

/**
 * Kubernetes access, as one identity or two (capture and containment, see deploy/rbac.yaml):
 *   HOLDFAST_CAPTURE_KUBECONFIG / HOLDFAST_CONTAINMENT_KUBECONFIG: a kubeconfig file per identity;
 *   HOLDFAST_CAPTURE_TOKEN_FILE / HOLDFAST_CONTAINMENT_TOKEN_FILE: in a cluster, a service account token per identity;
 *   otherwise KUBECONFIG or the pod's own service account for both.
 * Without any, steps fail fast and say why.
 */
export function clusterFromEnvironment(env: NodeJS.ProcessEnv = process.env): Cluster {
  const inCluster = Boolean(env.KUBERNETES_SERVICE_HOST);
  const forIdentity = (identity: 'CAPTURE' | 'CONTAINMENT'): k8s.KubeConfig | undefined => {
    const file = env[`HOLDFAST_${identity}_KUBECONFIG`];
    const tokenFile = env[`HOLDFAST_${identity}_TOKEN_FILE`];
    const kc = new k8s.KubeConfig();
    if (file) {
      kc.loadFromFile(file);
    } else if (tokenFile && inCluster) {
      kc.loadFromCluster();
      const user = kc.getCurrentUser();
      if (user?.authProvider?.config) user.authProvider.config.tokenFile = tokenFile;
    } else if (env.KUBECONFIG || inCluster) {
      kc.loadFromDefault();
    } else {
      return undefined;
    }
    return kc;
  };
  const capture = forIdentity('CAPTURE');
  const containment = forIdentity('CONTAINMENT');
  if (!capture || !containment) {
    return unavailableCluster('no Kubernetes access configured (set KUBECONFIG or HOLDFAST_{CAPTURE,CONTAINMENT}_KUBECONFIG, or run in a cluster)');
  }
  const collector = collectorConfigFromEnv(env);
  return new SplitCluster(new KubernetesCluster(capture, collector), new KubernetesCluster(containment, collector));
}
