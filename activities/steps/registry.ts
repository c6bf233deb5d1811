import { captureFilesystemStep } from './capture-filesystem';
import { captureLogsStep } from './capture-logs';
import { captureMemoryStep } from './capture-memory';
import { captureNetworkStep } from './capture-network';
import { cordonStep } from './cordon';
import { isolateStep } from './isolate';
import { preserveStep } from './preserve';
import type { StepDefinition } from './types';

/** Every step a playbook can name. Adding one: a new file and one line here. */
export const STEPS: readonly StepDefinition[] = [
  preserveStep,
  captureFilesystemStep,
  captureMemoryStep,
  captureLogsStep,
  captureNetworkStep,
  isolateStep,
  cordonStep,
];

export function findStep(name: string): StepDefinition | undefined {
  return STEPS.find((step) => step.name === name);
}
