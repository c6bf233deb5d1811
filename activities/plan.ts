import type { PlanActivity } from './contract';
import type { Playbooks } from './playbooks';

/** Picks the playbook for an incident's first alert; the result lands in the workflow history. */
export function createPlanActivities(playbooks: Playbooks): { planIncident: PlanActivity } {
  return {
    async planIncident({ target, alerts }) {
      return playbooks.select(alerts[0]!, target);
    },
  };
}
