import { pinnedDigest } from '../../kubernetes/collector/settings';
import { hasRule, neededByRule } from '../needs';
import type { Check } from '../types';

const ENFORCE = 'pod-security.kubernetes.io/enforce';

/**
 * The collector image is pinned by digest, present (the kubelet runs it), admitted as the capture identity
 * would add it (Pod Security, the admission policy, RBAC) and able to read a non-root target through
 * /proc (SYS_PTRACE): in a throwaway pod of the chosen namespace.
 */
export const collectorCheck: Check = {
  name: 'collector',
  needs:
    "the worker's access for throwaway objects (KUBECONFIG) to create a pod, and the capture identity's credentials",
  neededBy: (deps) =>
    neededByRule(deps, 'run in the collector', (rule) => hasRule(rule, '', 'pods/ephemeralcontainers', 'update')),
  async run(deps, signal) {
    const digest = pinnedDigest(deps.collector.image);
    if (!digest && !deps.collector.allowTag)
      return {
        status: 'fail',
        detail: `the collector image ${deps.collector.image.slice(0, 200)} is not pinned by digest`,
        fix: 'set HOLDFAST_COLLECTOR_IMAGE to REPOSITORY@sha256:<digest> (and pin deploy/admission-policy.yaml to it)',
      };
    if (!deps.probe)
      return {
        status: 'skip',
        detail: `pinned (${digest ?? 'tag allowed'}); not tried in a pod: ${deps.noProbeReason ?? 'no operator access'}`,
        fix: 'give the worker a KUBECONFIG that may create and delete pods in the namespace (its identities may not)',
      };
    // An operator scoped to the namespace may not read it: the level is then unknown, the probe still runs.
    const labels = await deps.probe.namespaceLabels(deps.namespace, signal).catch(() => undefined);
    const level = labels ? (labels[ENFORCE] ?? '(none)') : '(unknown)';
    const result = await deps.probe.collector(deps.namespace, signal);
    const pinned = digest ? `pinned ${digest}` : 'a tag (HOLDFAST_COLLECTOR_ALLOW_TAG)';
    switch (result.outcome) {
      case 'ran':
        return result.ptrace
          ? { status: 'pass', detail: `${pinned}, ran and read a non-root target's /proc: ${result.detail}` }
          : {
              status: 'fail',
              detail: `${pinned}, ran but could not read the target's /proc (no ptrace): ${result.detail}`,
              fix: 'the collector needs capabilities SYS_PTRACE (and NET_ADMIN): allow them for holdfast-collector-* containers (admission policy, seccomp/AppArmor profile of the nodes)',
            };
      case 'refused':
        if (result.by === 'pod-security')
          return {
            status: 'fail',
            detail: `Pod Security admission in namespace ${deps.namespace} (enforce=${level}) refuses the collector (root, SYS_PTRACE, NET_ADMIN): ${result.message}`,
            fix: `label the namespaces Holdfast acts on ${ENFORCE}=privileged (kubectl label ns ${deps.namespace} ${ENFORCE}=privileged --overwrite) and constrain the collector with deploy/admission-policy.yaml instead; baseline and restricted refuse SYS_PTRACE`,
          };
        if (result.by === 'admission-policy')
          return {
            status: 'fail',
            detail: `an admission policy refuses the collector: ${result.message}`,
            fix: 'pin deploy/admission-policy.yaml to HOLDFAST_COLLECTOR_IMAGE: node dist/scripts/admission-policy.js <image> | kubectl apply -f -',
          };
        return {
          status: 'fail',
          detail: `adding the collector was refused (${result.by}): ${result.message}`,
          fix: 'grant the capture identity update on pods/ephemeralcontainers and get+create on pods/exec (deploy/rbac.yaml)',
        };
      case 'unverified':
        return {
          status: 'fail',
          detail: `the collector ran another image than the pinned one: ${result.message}`,
          fix: 'make the nodes hold the pinned image (pull it by digest) and nothing else under its name',
        };
      case 'not-started':
        return {
          status: 'fail',
          detail: `the collector image did not run in namespace ${deps.namespace}: ${result.reason}`,
          fix: 'make the image pullable by the nodes (or preload it), and HOLDFAST_COLLECTOR_PULL_POLICY fit',
        };
      case 'pod-refused':
        return {
          status: 'fail',
          detail: `the throwaway pod was refused in namespace ${deps.namespace}: ${result.message}`,
          fix: "give the worker's KUBECONFIG create/delete on pods and pods/exec in that namespace, or choose another with --namespace",
        };
    }
  },
};
