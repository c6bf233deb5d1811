import { ClusterUnavailable, InvalidInput, NotFound, PermissionDenied } from '../../common/failures';

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
      return new InvalidInput(`${doing}: rejected: ${reason}`);
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
