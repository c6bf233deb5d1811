import { cordonAction } from './actions/cordon';
import { deletePodAction } from './actions/delete-pod';
import { isolateAction } from './actions/isolate';
import { preserveAction } from './actions/preserve';
import { scaleToZeroAction } from './actions/scale-to-zero';
import { controlCapture } from './captures/control';
import { filesystemCapture } from './captures/filesystem';
import { logsCapture } from './captures/logs';
import { memoryCapture } from './captures/memory';
import { networkCapture } from './captures/network';
import type { KubernetesUnit } from './units';

/**
 * Every capture kind and containment action, each described and implemented in its own file
 * (captures/, actions/). Adding one: its file and one line here; it becomes a step of that name, and
 * KubernetesCluster runs it by name.
 */
export const KUBERNETES_UNITS: readonly KubernetesUnit[] = [
  preserveAction,
  filesystemCapture,
  memoryCapture,
  logsCapture,
  networkCapture,
  controlCapture,
  isolateAction,
  cordonAction,
  scaleToZeroAction,
  deletePodAction,
];
