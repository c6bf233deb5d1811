import { checkpointCheck } from './checks/checkpoint';
import { clockSkewCheck } from './checks/clock-skew';
import { collectorCheck } from './checks/collector';
import { networkPolicyCheck } from './checks/network-policy';
import { objectLockCheck } from './checks/object-lock';
import { rbacCheck } from './checks/rbac';
import { temporalCheck } from './checks/temporal';
import type { Check } from './types';

/** Every readiness check, in the order they run. Adding one: its file under checks/ and one line here. */
export const PREFLIGHT_CHECKS: readonly Check[] = [
  rbacCheck,
  collectorCheck,
  networkPolicyCheck,
  checkpointCheck,
  objectLockCheck,
  clockSkewCheck,
  temporalCheck,
];
