import { neededByRule } from '../needs';
import type { Check } from '../types';

/**
 * The kubelet checkpoint API (KEP-2008) answers for a throwaway pod. Only the memory step's tryCheckpoint
 * uses it: where no playbook sets it, an unsupported runtime is a skip with its reason, not a failure.
 */
export const checkpointCheck: Check = {
  name: 'checkpoint',
  needs: "the worker's access for throwaway objects (KUBECONFIG): create a pod and nodes/proxy",
  neededBy: (deps) => neededByRule(deps, 'tryCheckpoint', (rule) => rule.optionalRole === 'checkpoint'),
  async run(deps, signal) {
    const needed = checkpointCheck.neededBy(deps) !== undefined;
    if (!deps.probe)
      return {
        status: 'skip',
        detail: `not probed: ${deps.noProbeReason ?? 'no operator access'}`,
        ...(needed
          ? { fix: 'give the worker a KUBECONFIG that may create pods and nodes/proxy (its identities may not)' }
          : {}),
      };
    const result = await deps.probe.checkpoint(deps.namespace, signal);
    if (result.supported) return { status: 'pass', detail: result.reason };
    if (!needed)
      return { status: 'skip', detail: `${result.reason}; not needed: no enabled playbook sets tryCheckpoint` };
    return {
      status: 'fail',
      detail: result.reason,
      fix: 'use a runtime that implements CheckpointContainer (containerd 2.0+ or CRI-O 1.25+, with CRIU) and the ContainerCheckpoint gate, or drop tryCheckpoint: the gcore capture still runs',
    };
  },
};
