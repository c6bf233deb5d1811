import { KUBERNETES_UNITS } from '../../adapters/kubernetes/registry';
import type { KubernetesUnit } from '../../adapters/kubernetes/units';
import { captureStep } from './capture';
import { changeStep } from './change';
import type { StepDefinition } from './types';

/** One step per unit, as the unit describes itself: capture units become capture steps, actions preserve or contain steps. */
export function stepsFrom(units: readonly KubernetesUnit[]): StepDefinition[] {
  return units.map((unit) => (unit.kind === 'capture' ? captureStep(unit) : changeStep(unit)));
}

/**
 * Every step a playbook can name. Adding a capture kind or a containment action: its file under
 * adapters/kubernetes/ and one line in adapters/kubernetes/registry.ts; nothing here changes.
 */
export const STEPS: readonly StepDefinition[] = stepsFrom(KUBERNETES_UNITS);

export function findStep(name: string, steps: readonly StepDefinition[] = STEPS): StepDefinition | undefined {
  return steps.find((step) => step.name === name);
}
