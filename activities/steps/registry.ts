import { captureFilesystemStep } from './capture-filesystem';
import { captureLogsStep } from './capture-logs';
import { captureMemoryStep } from './capture-memory';
import { captureNetworkStep } from './capture-network';
import { cordonStep } from './cordon';
import { deletePodStep } from './delete-pod';
import { isolateStep } from './isolate';
import { preserveStep } from './preserve';
import { scaleToZeroStep } from './scale-to-zero';
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
  scaleToZeroStep,
  deletePodStep,
];

export function findStep(name: string): StepDefinition | undefined {
  return STEPS.find((step) => step.name === name);
}
