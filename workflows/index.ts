// The worker's workflowsPath: every workflow function, and nothing else.
export { selfTestWorkflow } from './selftest';
