import type { Alert, AlertTarget } from '../common/types';
import type { IncidentPlan } from '../workflows/definitions';
import type { Playbooks } from './playbooks';

export type PlanActivity = (input: { target: AlertTarget; alerts: Alert[] }) => Promise<IncidentPlan>;

/** Picks the playbook for an incident's first alert; the result lands in the workflow history. */
export function createPlanActivities(playbooks: Playbooks): { planIncident: PlanActivity } {
  return {
    async planIncident({ target, alerts }) {
      return playbooks.select(alerts[0]!, target);
    },
  };
}
