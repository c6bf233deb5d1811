import * as k8s from '@kubernetes/client-node';
import { CollectorLauncher } from './collector/launcher';
import type { CollectorConfig } from './collector/settings';

/** The API clients of one Kubernetes identity, made once and handed to every unit. */
export interface Kube {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  networking: k8s.NetworkingV1Api;
  discovery: k8s.DiscoveryV1Api;
  exec: k8s.Exec;
  logs: k8s.Log;
  /** Adds (or finds) the trusted collector in a pod. */
  launcher: CollectorLauncher;
}

export function kubeFor(kc: k8s.KubeConfig, collector: CollectorConfig): Kube {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  return {
    kc,
    core,
    apps: kc.makeApiClient(k8s.AppsV1Api),
    networking: kc.makeApiClient(k8s.NetworkingV1Api),
    discovery: kc.makeApiClient(k8s.DiscoveryV1Api),
    exec: new k8s.Exec(kc),
    logs: new k8s.Log(kc),
    launcher: new CollectorLauncher(core, collector),
  };
}

export const MERGE_PATCH = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

/** Server-side dry run: the API server validates the change and stores nothing. */
export const dryRunOf = (run: { dryRun: boolean }) => (run.dryRun ? 'All' : undefined);
