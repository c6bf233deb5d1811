/**
 * The TimestampAuthority over HTTP (RFC 3161 section 3.4): POST the DER request as application/timestamp-query,
 * read the DER response. The TSA is another party's server: its answer is bounded in bytes and time, and its
 * error text never reaches anything but a bounded note.
 */
import type { TimestampAuthority } from '../../common/ports';
import { MAX_TIMESTAMP_BYTES } from '../../evidence/timestamp';

export interface HttpTsaOptions {
  url: string;
  timeoutMs: number;
  maxBytes?: number;
  fetch?: typeof fetch;
}

/** The URL without credentials, query or fragment: what the manifest may record. */
export function tsaName(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

export function httpTimestampAuthority(options: HttpTsaOptions): TimestampAuthority {
  const fetchImpl = options.fetch ?? fetch;
  const max = options.maxBytes ?? MAX_TIMESTAMP_BYTES;
  const name = tsaName(options.url);
  return {
    name,
    async timestamp(request, signal) {
      const timeout = AbortSignal.timeout(options.timeoutMs);
      const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
      let response: Response;
      try {
        response = await fetchImpl(options.url, {
          method: 'POST',
          headers: { 'content-type': 'application/timestamp-query', accept: 'application/timestamp-reply' },
          body: request,
          redirect: 'error',
          signal: combined,
        });
      } catch (err) {
        if (timeout.aborted) throw new Error(`the TSA ${name} did not answer within ${options.timeoutMs} ms`);
        throw new Error(`the TSA ${name} is unreachable: ${String((err as Error)?.message ?? err).slice(0, 200)}`);
      }
      if (response.status !== 200) {
        await response.body?.cancel().catch(() => undefined);
        throw new Error(`the TSA ${name} answered HTTP ${response.status}`);
      }
      const declared = Number(response.headers.get('content-length') ?? '0');
      if (declared > max) {
        await response.body?.cancel().catch(() => undefined);
        throw new Error(`the TSA ${name} announced ${declared} bytes, more than ${max}`);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      try {
        for await (const chunk of (response.body ?? []) as AsyncIterable<Uint8Array>) {
          size += chunk.length;
          if (size > max) throw new Error(`the TSA ${name} sent more than ${max} bytes`);
          chunks.push(Buffer.from(chunk));
        }
      } catch (err) {
        await response.body?.cancel().catch(() => undefined);
        if (timeout.aborted) throw new Error(`the TSA ${name} did not finish answering within ${options.timeoutMs} ms`);
        throw err;
      }
      return Buffer.concat(chunks);
    },
  };
}
