// The worker's workflowsPath: every workflow function, and nothing else.
export { incidentWorkflow } from './incident';
export { escalationWorkflow } from './escalation';
export { selfTestWorkflow } from './selftest';
