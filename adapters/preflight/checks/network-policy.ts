import { hasRule, neededByRule } from '../needs';
import type { Check } from '../types';

/**
 * NetworkPolicy is enforced, not only stored: a throwaway client reaches a throwaway server, then a deny-all
 * policy on the server must stop it. Without a CNI that enforces policies, isolate changes nothing.
 */
export const networkPolicyCheck: Check = {
  name: 'network-policy',
  needs: "the worker's access for throwaway objects (KUBECONFIG): two pods and a NetworkPolicy, and exec in one",
  neededBy: (deps) =>
    neededByRule(deps, 'isolates with a NetworkPolicy', (rule) =>
      hasRule(rule, 'networking.k8s.io', 'networkpolicies', 'create'),
    ),
  async run(deps, signal) {
    if (!deps.probe)
      return {
        status: 'skip',
        detail: `not probed: ${deps.noProbeReason ?? 'no operator access'}`,
        fix: 'give the worker a KUBECONFIG that may create pods and NetworkPolicies in the namespace (its identities may not)',
      };
    const result = await deps.probe.networkPolicy(deps.namespace, signal);
    if (result.outcome === 'not-started')
      return {
        status: 'fail',
        detail: `the probe pods did not run in namespace ${deps.namespace}: ${result.reason}`,
        fix: "give the worker's KUBECONFIG create/delete on pods, pods/exec and networkpolicies there, or choose another with --namespace",
      };
    if (!result.reachableBefore)
      return {
        status: 'fail',
        detail: `inconclusive: the client could not reach the server even without a policy (${result.detail})`,
        fix: 'check pod-to-pod networking in the namespace (a default-deny policy already in place?) and run again',
      };
    if (result.reachableWithDeny)
      return {
        status: 'fail',
        detail: `a deny-all NetworkPolicy did not stop new connections: ${result.detail}`,
        fix: 'install a CNI (or policy agent) that enforces NetworkPolicy: without one, isolate changes nothing',
      };
    return { status: 'pass', detail: `a deny-all NetworkPolicy stopped new connections: ${result.detail}` };
  },
};
