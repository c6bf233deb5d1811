import type { KubernetesIdentity, KubernetesUnit, RbacRule } from '../kubernetes/units';
import type { AccessQuestion, EnabledStep, PreflightDeps } from './types';

/*
 * What the enabled playbooks need, derived from the units' own declarations (their `rbac` rules), never
 * from a second list: adding a step adds its needs here by itself.
 */

/**
 * The parameter that turns on a rule of an optional role (deploy/rbac-<role>.yaml). Keyed by the type of
 * RbacRule.optionalRole, so a new optional role does not compile until it says which parameter needs it.
 */
const OPTIONAL_ROLE_PARAM: Record<NonNullable<RbacRule['optionalRole']>, string> = {
  checkpoint: 'tryCheckpoint',
};

/** Core-group resources without a namespace that the units name (a namespaced question would be wrong). */
const CLUSTER_SCOPED = new Set(['nodes', 'namespaces', 'persistentvolumes']);

export interface Requirement {
  identity: KubernetesIdentity;
  question: Omit<AccessQuestion, 'namespace'> & { clusterScoped: boolean };
  /** The enabled steps that need it. */
  steps: string[];
}

function unitOf(units: readonly KubernetesUnit[], name: string): KubernetesUnit | undefined {
  return units.find((u) => u.name === name);
}

/** The rules a step runs with these parameters: optional-role rules only when their parameter is on. */
export function rulesInUse(unit: KubernetesUnit, params: Record<string, unknown>): RbacRule[] {
  return unit.rbac.filter((rule) => !rule.optionalRole || params[OPTIONAL_ROLE_PARAM[rule.optionalRole]] === true);
}

/** As units.ts says: a rule without an identity is the unit's (captures → capture, actions → containment). */
export function identityOfRule(unit: Pick<KubernetesUnit, 'kind'>, rule: RbacRule): KubernetesIdentity {
  return rule.identity ?? (unit.kind === 'capture' ? 'capture' : 'containment');
}

/** Every (identity, verb, resource) the enabled steps need, once each, with the steps that need it. */
export function requirements(units: readonly KubernetesUnit[], steps: readonly EnabledStep[]): Requirement[] {
  const byKey = new Map<string, Requirement>();
  for (const step of steps) {
    const unit = unitOf(units, step.name);
    if (!unit) continue;
    for (const rule of rulesInUse(unit, step.params)) {
      const identity = identityOfRule(unit, rule);
      for (const group of rule.apiGroups)
        for (const full of rule.resources)
          for (const verb of rule.verbs) {
            const [resource, subresource] = full.split('/') as [string, string | undefined];
            const key = `${identity} ${verb} ${group}/${full}`;
            const found = byKey.get(key);
            if (found) {
              if (!found.steps.includes(step.name)) found.steps.push(step.name);
              continue;
            }
            byKey.set(key, {
              identity,
              question: {
                group,
                resource,
                ...(subresource ? { subresource } : {}),
                verb,
                clusterScoped: group === '' && CLUSTER_SCOPED.has(resource),
              },
              steps: [step.name],
            });
          }
    }
  }
  return [...byKey.values()];
}

/** `verb group/resource[/sub]` as kubectl would name it. */
export function describeQuestion(q: Omit<AccessQuestion, 'namespace'>): string {
  const resource = `${q.resource}${q.subresource ? `/${q.subresource}` : ''}`;
  return `${q.verb} ${q.group ? `${resource}.${q.group}` : resource}`;
}

/** The enabled steps whose rules satisfy `test`, with their playbooks; a reason string or undefined. */
export function neededByRule(
  deps: Pick<PreflightDeps, 'units' | 'enabledSteps'>,
  what: string,
  test: (rule: RbacRule) => boolean,
): string | undefined {
  const users = deps.enabledSteps.filter((step) => {
    const unit = unitOf(deps.units, step.name);
    return unit !== undefined && rulesInUse(unit, step.params).some(test);
  });
  if (users.length === 0) return undefined;
  const playbooks = [...new Set(users.flatMap((s) => s.playbooks))];
  return `${users.map((s) => s.name).join(', ')} (${what}) in playbook${playbooks.length > 1 ? 's' : ''} ${playbooks.join(', ')}`;
}

export const hasRule = (rule: RbacRule, group: string, resource: string, verb: string) =>
  rule.apiGroups.includes(group) && rule.resources.includes(resource) && rule.verbs.includes(verb);

/** Every playbook seals evidence in the bucket and is a Temporal workflow: always needed when any is enabled. */
export function neededByEveryIncident(deps: Pick<PreflightDeps, 'enabledSteps'>): string | undefined {
  const playbooks = [...new Set(deps.enabledSteps.flatMap((s) => s.playbooks))];
  return playbooks.length > 0 ? `every incident (playbooks ${playbooks.join(', ')})` : 'every incident';
}
