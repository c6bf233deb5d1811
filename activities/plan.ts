import type { PlanActivity } from './contract';
import type { Playbooks } from './playbooks';
import { stormPlan } from './scope';

/** Picks the playbook for an incident's first alert; the result lands in the workflow history. */
export function createPlanActivities(playbooks: Playbooks): { planIncident: PlanActivity } {
  return {
    async planIncident({ target, alerts, storm }) {
      const plan = playbooks.select(alerts[0]!, target);
      return storm ? stormPlan(plan) : plan;
    },
  };
}
