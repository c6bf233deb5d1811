/**
 * The one way notifiers talk HTTP: Node's global fetch, a timeout, no redirects (a redirect could carry a
 * key elsewhere), bounded response bodies, secrets masked, and errors classified for Temporal.
 */
import { FailureType, HoldfastFailure } from '../../common/failures';

/** The vendor refused the request (4xx other than 408/429, or a redirect): retrying the same request cannot help. */
export class NotifierRejected extends HoldfastFailure {
  constructor(
    message: string,
    readonly httpStatus?: number,
    readonly response?: string,
  ) {
    super(FailureType.NotifierRejected, message);
  }
}

/** The vendor could not be reached or asked us to come back later (network, timeout, 408, 429, 5xx): retry. */
export class NotifierUnavailable extends HoldfastFailure {
  constructor(
    message: string,
    readonly httpStatus?: number,
    readonly response?: string,
  ) {
    super(FailureType.NotifierUnavailable, message);
  }
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const MAX_RESPONSE_BYTES = 2048;

/** Masks every configured secret (and its URL-encoded form) in text bound for logs, errors or results. */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (!secret || secret.length < 4) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)])) out = out.split(form).join('[redacted]');
  }
  return out;
}

/** Reads at most `maxBytes` of a response body, then stops reading (the rest is discarded). */
export async function readBounded(response: Response, maxBytes = MAX_RESPONSE_BYTES): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (total < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  const text = Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8');
  return total > maxBytes ? `${text}…` : text;
}

export interface HttpRequest {
  method: 'POST';
  url: string;
  headers: Record<string, string>;
  /** Exact bytes sent (signatures are computed over them). */
  body: string;
}

export interface HttpOutcome {
  httpStatus: number;
  response: string;
}

/**
 * Sends the request; resolves for 2xx, throws NotifierRejected/NotifierUnavailable otherwise. `label`
 * names the notifier in errors (never the URL, which may itself be a secret, as Slack's is).
 */
export async function send(
  request: HttpRequest,
  opts: { label: string; secrets: readonly string[]; timeoutMs: number; signal?: AbortSignal },
): Promise<HttpOutcome> {
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  let response: Response;
  try {
    response = await fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: 'manual',
      signal,
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why = timeout.aborted
      ? `timed out after ${opts.timeoutMs} ms`
      : opts.signal?.aborted
        ? 'cancelled'
        : oneLine(e.cause?.code ?? e.cause?.message ?? e.message).slice(0, 200);
    throw new NotifierUnavailable(maskSecrets(`${opts.label}: request failed: ${why}`, opts.secrets));
  }
  const text = maskSecrets(await readBounded(response).catch(() => ''), opts.secrets);
  const status = response.status;
  if (status >= 200 && status < 300) return { httpStatus: status, response: text };
  const detail = `${opts.label}: HTTP ${status}${text ? `: ${oneLine(text)}` : ''}`;
  if (status === 408 || status === 429 || status >= 500) throw new NotifierUnavailable(detail, status, text);
  if (status >= 300 && status < 400)
    throw new NotifierRejected(
      `${opts.label}: HTTP ${status}: redirects are not followed; configure the final URL`,
      status,
      text,
    );
  throw new NotifierRejected(detail, status, text);
}

function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, 500);
}
