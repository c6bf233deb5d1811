import { ApplicationFailure } from '@temporalio/common';

/**
 * Holdfast's one failure vocabulary. Adapters throw these (as Error subclasses whose name is the type),
 * activities hand them to Temporal as ApplicationFailure types, workflows list them in retry policies
 * and read them back, and the API maps them to HTTP answers. No failure name is spelled elsewhere.
 */
export const FailureType = {
  /** A Kubernetes or S3 permission is missing; the message names the verb and resource. */
  PermissionDenied: 'PermissionDenied',
  NotFound: 'NotFound',
  InvalidInput: 'InvalidInput',
  Unsupported: 'Unsupported',
  /** Holdfast has no cluster access at all: every Kubernetes step fails fast with the reason. */
  ClusterUnavailable: 'ClusterUnavailable',
  /** The step does not apply to this incident (no pod, pod not scheduled): recorded as skipped. */
  StepNotApplicable: 'StepNotApplicable',
  /**
   * The pod's name now belongs to another pod (a StatefulSet recreated it, say) than the one this incident
   * preserved: nothing is done to the new pod.
   */
  PodReplaced: 'PodReplaced',
  /**
   * The pod the alert names does not exist (and the incident had not pinned one): the incident closes as
   * "target not found" without capturing, containing or sealing.
   */
  TargetNotFound: 'TargetNotFound',
  /**
   * A collector command's output stopped advancing (a process in the target, which shares the collector's PID
   * namespace, may have stopped it with SIGSTOP). Retried once on a fresh collector; a second stall is final.
   */
  CollectorStalled: 'CollectorStalled',
  /**
   * A collector command was killed (it ended by a signal) or its output is incomplete (no end marker or
   * trailer): a process in the target may have killed it. Retried once on a fresh collector, like a stall.
   */
  CollectorInterfered: 'CollectorInterfered',
  /** The incident that alerts must follow is still closing: retried until it has closed. */
  IncidentStillClosing: 'IncidentStillClosing',
  /**
   * The collector container runs an image other than the pinned digest (the imageID the kubelet reports
   * differs from HOLDFAST_COLLECTOR_IMAGE's): no capture runs in it. Not retried: the pod holds it for good.
   */
  CollectorUnverified: 'CollectorUnverified',
  /** The bucket has no versioning or Object Lock: evidence cannot be kept as promised. */
  ObjectLockUnavailable: 'ObjectLockUnavailable',
  UnknownStep: 'UnknownStep',
  UnknownNotifier: 'UnknownNotifier',
  /** The paging vendor refused the request (4xx other than 408/429). */
  NotifierRejected: 'NotifierRejected',
  /** The paging vendor could not be reached or asked to retry. */
  NotifierUnavailable: 'NotifierUnavailable',
  /** S3 could not be reached or failed: retried. */
  EvidenceStoreUnavailable: 'EvidenceStoreUnavailable',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

const T = FailureType;

/** Retrying cannot help: steps and planning fail at once with one of these. */
export const NON_RETRYABLE: readonly FailureType[] = [
  T.PermissionDenied,
  T.NotFound,
  T.InvalidInput,
  T.Unsupported,
  T.ClusterUnavailable,
  T.StepNotApplicable,
  T.PodReplaced,
  T.TargetNotFound,
  T.CollectorUnverified,
  T.ObjectLockUnavailable,
  T.UnknownStep,
  T.UnknownNotifier,
  T.NotifierRejected,
];
/** Sealing keeps retrying through S3 outages and missing objects: only these stop it. */
export const SEAL_NON_RETRYABLE: readonly FailureType[] = [T.InvalidInput, T.ObjectLockUnavailable];
/** Paging retries anything but a refusal or a notifier nobody configured. */
export const NOTIFY_NON_RETRYABLE: readonly FailureType[] = [T.NotifierRejected, T.UnknownNotifier];

/** Whether a failure of this type (an error's name, or an ApplicationFailure's type) must not be retried. */
export function isNonRetryable(type: string | undefined): boolean {
  return type !== undefined && (NON_RETRYABLE as readonly string[]).includes(type);
}

/** Whether an error (or a Temporal failure wrapping one) is of this type. */
export function isFailure(err: unknown, type: FailureType): boolean {
  const error = err as { name?: string; type?: string } | undefined;
  return error?.type === type || error?.name === type;
}

/** An error whose name is a failure type. */
export class HoldfastFailure extends Error {
  constructor(
    readonly type: FailureType,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = type;
  }

  /** Derived from the type, never set on its own. */
  get nonRetryable(): boolean {
    return isNonRetryable(this.type);
  }
}

export class PermissionDenied extends HoldfastFailure {
  constructor(message: string, options?: { cause?: unknown }) {
    super(T.PermissionDenied, message, options);
  }
}
export class CollectorUnverified extends HoldfastFailure {
  constructor(message: string, options?: { cause?: unknown }) {
    super(T.CollectorUnverified, message, options);
  }
}
export class NotFound extends HoldfastFailure {
  constructor(message: string, options?: { cause?: unknown }) {
    super(T.NotFound, message, options);
  }
}
export class InvalidInput extends HoldfastFailure {
  constructor(message: string, options?: { cause?: unknown }) {
    super(T.InvalidInput, message, options);
  }
}
export class Unsupported extends HoldfastFailure {
  constructor(message: string, options?: { cause?: unknown }) {
    super(T.Unsupported, message, options);
  }
}
export class ClusterUnavailable extends HoldfastFailure {
  constructor(message: string, options?: { cause?: unknown }) {
    super(T.ClusterUnavailable, message, options);
  }
}
export class StepNotApplicable extends HoldfastFailure {
  constructor(message: string, options?: { cause?: unknown }) {
    super(T.StepNotApplicable, message, options);
  }
}

export class PodReplaced extends HoldfastFailure {
  constructor(message: string, options?: { cause?: unknown }) {
    super(T.PodReplaced, message, options);
  }
}

export class TargetNotFound extends HoldfastFailure {
  constructor(message: string, options?: { cause?: unknown }) {
    super(T.TargetNotFound, message, options);
  }
}

/**
 * A collector command stalled. Retryable, on a fresh collector (the stalled one is retired), unless the
 * collector was itself the replacement of a stalled one: then `final`, and Temporal stops retrying.
 */
export class CollectorStalled extends HoldfastFailure {
  constructor(
    message: string,
    readonly final: boolean,
    options?: { cause?: unknown },
  ) {
    super(T.CollectorStalled, message, options);
  }

  override get nonRetryable(): boolean {
    return this.final;
  }
}

/**
 * A collector command was killed or its output came out incomplete. Like CollectorStalled: retryable on a
 * fresh collector (this one is retired), `final` when the collector already replaced a retired one.
 */
export class CollectorInterfered extends HoldfastFailure {
  constructor(
    message: string,
    readonly final: boolean,
    options?: { cause?: unknown },
  ) {
    super(T.CollectorInterfered, message, options);
  }

  override get nonRetryable(): boolean {
    return this.final;
  }
}

/** A failure Temporal must not retry, for code that throws straight to Temporal. */
export function nonRetryableFailure(type: FailureType, message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, type);
}

/** Converts an adapter error into what Temporal should do with it. Retryable errors pass through. */
export function toActivityFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  const error = err as Error | undefined;
  const finalCollectorFailure =
    (error instanceof CollectorStalled || error instanceof CollectorInterfered) && error.final;
  if (isNonRetryable(error?.name) || finalCollectorFailure) {
    return ApplicationFailure.create({ message: error!.message, type: error!.name, nonRetryable: true });
  }
  return err;
}
