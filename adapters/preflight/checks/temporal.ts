import { neededByEveryIncident } from '../needs';
import type { Check } from '../types';

/** The Temporal namespace answers and has every search attribute incidents keep (with its type). */
export const temporalCheck: Check = {
  name: 'temporal',
  needs: 'the Temporal frontend (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE)',
  neededBy: neededByEveryIncident,
  async run(deps, signal) {
    if (!deps.temporal)
      return { status: 'skip', detail: 'no Temporal configured', fix: 'set TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE' };
    const ns = deps.temporal.namespace;
    try {
      await deps.temporal.describeNamespace(signal);
    } catch (err) {
      // gRPC NOT_FOUND (5): the frontend answers but has no such namespace; anything else: it does not answer.
      const missing = (err as { code?: number }).code === 5;
      return {
        status: 'fail',
        detail: missing
          ? `Temporal answers but has no namespace ${ns}`
          : `Temporal does not answer: ${(err as Error).message.slice(0, 300)}`,
        fix: missing
          ? `create it: temporal operator namespace create ${ns}`
          : 'check TEMPORAL_ADDRESS and that the frontend is reachable from here (TLS, network policy, firewall)',
      };
    }
    const registered = await deps.temporal.searchAttributes(signal);
    const wrong = Object.entries(deps.searchAttributes)
      .filter(([name, type]) => registered[name]?.toUpperCase() !== type.toUpperCase())
      .map(
        ([name, type]) => `${name} (${type}${registered[name] ? `, registered as ${registered[name]}` : ', missing'})`,
      );
    if (wrong.length > 0)
      return {
        status: 'fail',
        detail: `namespace ${ns} answers; search attributes missing or mistyped: ${wrong.join(', ')}`,
        fix: `register them: ${Object.entries(deps.searchAttributes)
          .map(
            ([name, type]) =>
              `temporal operator search-attribute create --namespace ${ns} --name ${name} --type ${type}`,
          )
          .join(' && ')}`,
      };
    return {
      status: 'pass',
      detail: `namespace ${ns} answers; ${Object.keys(deps.searchAttributes).length} search attributes registered`,
    };
  },
};
