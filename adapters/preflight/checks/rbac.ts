import { describeQuestion, requirements } from '../needs';
import { SHARED_WITH_PROBE, type Check } from '../types';

/**
 * Each identity may do what each enabled step needs of it: one SelfSubjectAccessReview per (identity, verb,
 * resource), asked as the identity itself, so the answer is the API server's, roles and bindings included.
 */
export const rbacCheck: Check = {
  name: 'rbac',
  needs: "each worker identity's credentials (SelfSubjectAccessReview)",
  neededBy: (deps) => {
    const steps = [...new Set(requirements(deps.units, deps.enabledSteps).flatMap((r) => r.steps))];
    return steps.length > 0 ? `the enabled steps ${steps.join(', ')}` : undefined;
  },
  async run(deps, signal) {
    const needed = requirements(deps.units, deps.enabledSteps);
    if (needed.length === 0) return { status: 'skip', detail: 'no enabled step needs Kubernetes access' };
    const missing: string[] = [];
    const unconfigured = new Set<string>();
    let asked = 0;
    for (const req of needed) {
      const access = deps.identities.find((i) => i.identity === req.identity);
      if (!access) {
        unconfigured.add(req.identity);
        continue;
      }
      const answer = await access.review(
        { ...req.question, ...(req.question.clusterScoped ? {} : { namespace: deps.namespace }) },
        signal,
      );
      asked++;
      if (!answer.allowed)
        missing.push(`${req.identity} may not ${describeQuestion(req.question)} (needed by ${req.steps.join(', ')})`);
    }
    if (unconfigured.size > 0)
      return {
        status: 'fail',
        detail: `no credentials for the ${[...unconfigured].join(' and ')} identity`,
        fix: 'set KUBECONFIG, or HOLDFAST_CAPTURE_KUBECONFIG and HOLDFAST_CONTAINMENT_KUBECONFIG (in a cluster: the token files of deploy/worker.yaml)',
      };
    if (missing.length > 0)
      return {
        status: 'fail',
        detail: `${missing.length} of ${asked} permissions missing in namespace ${deps.namespace}: ${missing.join('; ')}`,
        fix:
          'apply deploy/rbac.yaml (namespaced: node dist/scripts/rbac-namespaced.js NS… | kubectl apply -f -) and, for ' +
          'tryCheckpoint, deploy/rbac-checkpoint.yaml; check that each identity is bound to its ClusterRole',
      };
    const identities = [...new Set(needed.map((r) => r.identity))];
    // A worker with only KUBECONFIG uses it for both identities and for the throwaway objects: such broad
    // credentials pass, and say so, since they are not what a deployment grants its identities.
    const own = deps.identities.filter((i) => i.source.endsWith(SHARED_WITH_PROBE)).map((i) => i.identity);
    return {
      status: 'pass',
      detail:
        `${asked} permissions allowed in namespace ${deps.namespace} for ${identities.join(' and ')}` +
        (own.length > 0
          ? `; ${own.join(' and ')} ${own.length > 1 ? 'use' : 'uses'} the credentials that create the throwaway objects (KUBECONFIG): give the worker its own identities (HOLDFAST_CAPTURE_/HOLDFAST_CONTAINMENT_KUBECONFIG or _TOKEN_FILE, as deploy/worker.yaml does) to check what a deployment grants`
          : ''),
    };
  },
};
