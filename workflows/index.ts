// The worker's workflowsPath: every workflow function, and nothing else.
export { incidentWorkflow } from './incident';
export { escalationWorkflow } from './escalation';
export { nextIncidentWorkflow } from './next-incident';
export { selfTestWorkflow } from './selftest';
export { preflightWorkflow } from './preflight';
