import type { PodRef } from '../../../common/types';
import { HOLDFAST_VERSION } from '../../../common/version';
import { jsonBody } from '../../../evidence/json-body';
import type { CollectorLauncher } from './launcher';

/** In a dry run a collector capture only validates the collector and records what it would have done. */
export async function dryRunPlan(
  launcher: CollectorLauncher,
  target: PodRef,
  incidentId: string,
  kind: string,
  params: Record<string, unknown>,
) {
  const { wouldAdd, targetContainer } = await launcher.validate(target, incidentId);
  const record = { dryRun: true, kind, targetContainer, params, wouldAddEphemeralContainer: wouldAdd };
  return [
    {
      name: 'dry-run.json',
      body: jsonBody(record),
      contentType: 'application/json',
      collector: { name: 'holdfast-kubernetes-api', version: HOLDFAST_VERSION },
      method: 'kubernetes-api: ephemeral container add validated with dryRun=All',
      notes: [
        `dry run: the ${kind} capture would add collector ${wouldAdd.image} to ${target.namespace}/${target.pod} targeting ${targetContainer}; the API server accepted it and stored nothing`,
      ],
    },
  ];
}
