import { ApplicationFailure } from '@temporalio/common';

/**
 * Errors adapters throw when retrying cannot help. Their names are the failure types the workflow's
 * retry policies list as non-retryable, so a missing RBAC verb fails fast and says which.
 */
export class NonRetryableError extends Error {}
export class PermissionDenied extends NonRetryableError { override name = 'PermissionDenied'; }
export class NotFound extends NonRetryableError { override name = 'NotFound'; }
export class InvalidInput extends NonRetryableError { override name = 'InvalidInput'; }
export class Unsupported extends NonRetryableError { override name = 'Unsupported'; }
export class ClusterUnavailable extends NonRetryableError { override name = 'ClusterUnavailable'; }

export const NON_RETRYABLE_TYPES = [
  'PermissionDenied', 'NotFound', 'InvalidInput', 'Unsupported', 'ClusterUnavailable', 'StepNotApplicable',
  'NotifierRejected', 'ObjectLockUnavailable', 'UnknownStep', 'UnknownNotifier',
];

/** Converts an adapter error into what Temporal should do with it. Retryable errors pass through. */
export function toActivityFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  const error = err as Error & { nonRetryable?: boolean };
  if (error instanceof NonRetryableError || error?.nonRetryable === true || NON_RETRYABLE_TYPES.includes(error?.name)) {
    return ApplicationFailure.create({ message: error.message, type: error.name, nonRetryable: true });
  }
  return err;
}
