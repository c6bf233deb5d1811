import type { S3Client } from '@aws-sdk/client-s3';
import type { ActivityDeps } from '../activities';
import { createEvidenceServices } from './evidence';
import { trustSigner, trustedKeysFile } from '../evidence/trusted-keys';
import * as k8s from '@kubernetes/client-node';
import { KubernetesCluster } from '../adapters/kubernetes/cluster';
import {
  collectorPinProblem,
  DEFAULT_COLLECTOR,
  type CollectorConfig,
} from '../adapters/kubernetes/collector/settings';
import { SplitCluster } from '../adapters/kubernetes/split';
import { unavailableCluster } from '../adapters/kubernetes/unavailable';
import type { Cluster } from '../common/ports';
import { createNotifiers, notifierConfigsFrom, parseNotifierConfigs } from '../adapters/notifiers/registry';
import { loadPlaybooks } from '../activities/playbooks';
import type { Logger } from '../common/logger';
import { ConfigError, type HoldfastConfig, type KubernetesIdentity, type KubernetesSettings } from '../common/config';

/** Builds the real adapters from configuration. Each is replaceable in tests through createWorker's overrides. */
export function buildAdapters(
  config: HoldfastConfig,
  s3: S3Client,
  logger?: Logger,
  cluster: Cluster = clusterFromConfig(config.kubernetes),
): Omit<ActivityDeps, 'config' | 's3'> {
  // Notifiers come from the playbooks file's `notifiers:` and from HOLDFAST_NOTIFIERS(_FILE).
  const configuredNotifiers = notifierConfigsFrom(config.notifiers);
  const playbooks = loadPlaybooks(config.playbooks.file, {
    apiBaseUrl: config.api.publicUrl,
    knownNotifiers: configuredNotifiers.map((n) => n.name),
    protectedNamespaces: config.scope.protectedNamespaces,
  });
  const notifierConfigs = [...parseNotifierConfigs(JSON.stringify(playbooks.notifiers)), ...configuredNotifiers];
  const evidence = createEvidenceServices(config, s3);
  if (evidence.signingKeyCreated)
    logger?.info(
      { file: evidence.signingKeyFile, keyId: evidence.signer.keyId },
      'generated the manifest signing key (mode 0600)',
    );
  // The API verifies with the trust file's keys only: embedded and compose setups let the worker add its own.
  const trustFile = trustedKeysFile(config.dataDir, config.evidence.trustedKeysFile);
  try {
    const added = trustSigner(trustFile, evidence.signer);
    if (added.length > 0)
      logger?.info({ file: trustFile, keyIds: added }, 'added the signing public key to the trusted keys');
  } catch (err) {
    logger?.warn(
      { err, file: trustFile },
      'could not add the signing public key to the trusted keys file: provision it for the API (HOLDFAST_TRUSTED_KEYS_FILE)',
    );
  }
  // A copy in the bucket, for the record (the API no longer trusts keys found there).
  void evidence
    .publishSigningKey()
    .catch((err: unknown) => logger?.warn({ err }, 'could not publish the signing key yet; sealing will retry'));
  return {
    cluster,
    evidence: evidence.store,
    notifiers: createNotifiers(notifierConfigs, { secret: config.notifiers.secret, logger }),
    playbooks,
    sealEvidence: evidence.sealEvidence,
  };
}

/** The collector adapter's defaults with the configured image and pull policy. */
export function collectorConfig(settings: KubernetesSettings['collector']): CollectorConfig {
  return {
    ...DEFAULT_COLLECTOR,
    image: settings.image ?? DEFAULT_COLLECTOR.image,
    imagePullPolicy: settings.imagePullPolicy ?? DEFAULT_COLLECTOR.imagePullPolicy,
    ...(settings.allowTag ? { allowTag: true } : {}),
  };
}

/**
 * One identity's client configuration, or undefined when nothing is configured. With a token file in a
 * cluster, client-node's file authenticator reads the file again when its copy is over 60 s old, so a
 * token renewed in place (deploy/worker.yaml's token minter, a kubelet-projected token) is picked up.
 */
export function kubeConfigFor(settings: KubernetesSettings, identity: KubernetesIdentity): k8s.KubeConfig | undefined {
  const kc = new k8s.KubeConfig();
  if (identity.kubeconfig) {
    kc.loadFromFile(identity.kubeconfig);
  } else if (identity.tokenFile && settings.inCluster) {
    kc.loadFromCluster();
    const user = kc.getCurrentUser();
    if (user?.authProvider?.config) user.authProvider.config.tokenFile = identity.tokenFile;
  } else if (settings.kubeconfig || settings.inCluster) {
    kc.loadFromDefault();
  } else {
    return undefined;
  }
  return kc;
}

/**
 * Kubernetes access, as one identity or two (capture and containment, see deploy/rbac.yaml): a
 * kubeconfig file per identity; in a cluster, a service account token file per identity; otherwise
 * KUBECONFIG or the pod's own service account for both (common/config.ts reads the variables).
 * Without any, steps fail fast and say why.
 */
export function clusterFromConfig(settings: KubernetesSettings): Cluster {
  const capture = kubeConfigFor(settings, settings.capture);
  const containment = kubeConfigFor(settings, settings.containment);
  if (!capture || !containment) {
    return unavailableCluster(
      'no Kubernetes access configured (set KUBECONFIG or HOLDFAST_{CAPTURE,CONTAINMENT}_KUBECONFIG, or run in a cluster)',
    );
  }
  const collector = collectorConfig(settings.collector);
  // Refused at start, not at the first capture: with cluster access, a collector not pinned by digest never runs.
  const problem = collectorPinProblem(collector);
  if (problem) throw new ConfigError(problem);
  return new SplitCluster(new KubernetesCluster(capture, collector), new KubernetesCluster(containment, collector));
}
