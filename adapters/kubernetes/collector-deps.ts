import type * as k8s from '@kubernetes/client-node';
import type { CollectorLauncher } from './collector';

/** What the collector-based captures need from the Kubernetes adapter. */
export interface CollectorDeps {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  networking: k8s.NetworkingV1Api;
  discovery: k8s.DiscoveryV1Api;
  exec: k8s.Exec;
  launcher: CollectorLauncher;
}
