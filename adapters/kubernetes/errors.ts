import { ClusterUnavailable, InvalidInput, NotFound, PermissionDenied, PodReplaced } from '../../common/failures';

/**
 * Maps a Kubernetes API failure to Holdfast's error types: a missing RBAC verb or a vanished pod is not
 * worth retrying, and the message names what was refused (the API server says which verb and resource).
 */
export function mapKubernetesError(err: unknown, doing: string): Error {
  const e = err as { code?: number; statusCode?: number; body?: unknown; message?: string };
  const status = e?.code ?? e?.statusCode;
  let reason = e?.message ?? String(err);
  const body = typeof e?.body === 'string' ? safeJson(e.body) : e?.body;
  if (body && typeof body === 'object' && 'message' in body) reason = String((body as { message: unknown }).message);
  reason = reason.slice(0, 500);
  switch (status) {
    case 401:
    case 403:
      return new PermissionDenied(`${doing}: permission denied: ${reason}`);
    case 404:
      return new NotFound(`${doing}: not found: ${reason}`);
    case 400:
    case 422:
      // A patch carrying the pinned UID reached a pod recreated under that name (the UID is immutable).
      if (/metadata\.uid: Invalid value.*immutable/i.test(reason)) return replaced(doing, reason);
      return new InvalidInput(`${doing}: rejected: ${reason}`);
    case 409:
      // A delete with the pinned UID as precondition reached a pod recreated under that name.
      if (/precondition failed: uid|the uid in the precondition/i.test(reason)) return replaced(doing, reason);
      break;
    default:
      break;
  }
  if (/ECONNREFUSED|ENOTFOUND|certificate|no cluster configured/i.test(reason) && status === undefined) {
    // Network errors stay retryable (the plain Error), except a missing configuration.
    if (/no cluster configured/i.test(reason)) return new ClusterUnavailable(reason);
  }
  const retryable = new Error(`${doing}: ${reason}`);
  retryable.name = 'KubernetesError';
  return retryable;
}

function replaced(doing: string, reason: string): PodReplaced {
  return new PodReplaced(`${doing}: the pod was recreated under its name; nothing was done to the new pod: ${reason}`);
}

/** Runs one API request; a failure becomes one of Holdfast's error types, saying what was being done. */
export async function call<T>(doing: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw mapKubernetesError(err, doing);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
