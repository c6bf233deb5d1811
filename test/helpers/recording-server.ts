/**
 * A real local HTTP server (node:http on 127.0.0.1, ephemeral port) that records every request and
 * answers with queued responses (default 202 `{"status":"success"}`). Bounded: request bodies over
 * `maxBodyBytes` are answered 413 and recorded truncated; at most `maxRequests` are kept.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path and query, as sent. */
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Exact body bytes as UTF-8. */
  rawBody: string;
  /** Parsed JSON body, or undefined when it is not JSON. */
  body: unknown;
  /** When the body had arrived (Date.now()): benches time pages by it, not by how often they poll. */
  receivedAt: number;
}

export interface CannedResponse {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  /** Wait this long before answering (for timeout tests). */
  delayMs?: number;
}

export interface RecordingServer {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Queue responses for the next requests, in order; afterwards the default applies. */
  respondWith(...responses: CannedResponse[]): void;
  setDefault(response: CannedResponse): void;
  reset(): void;
  close(): Promise<void>;
}

export async function startRecordingServer(
  opts: { maxRequests?: number; maxBodyBytes?: number } = {},
): Promise<RecordingServer> {
  const maxRequests = opts.maxRequests ?? 1000;
  const maxBodyBytes = opts.maxBodyBytes ?? 1024 * 1024;
  const requests: RecordedRequest[] = [];
  const queue: CannedResponse[] = [];
  let fallback: CannedResponse = {
    status: 202,
    body: '{"status":"success","message":"Event processed"}',
    headers: { 'content-type': 'application/json' },
  };
  const timers = new Set<NodeJS.Timeout>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        tooLarge = true;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      const receivedAt = Date.now();
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = rawBody ? JSON.parse(rawBody) : undefined;
      } catch {
        body = undefined;
      }
      if (requests.length < maxRequests)
        requests.push({
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          rawBody,
          body,
          receivedAt,
        });
      const answer = tooLarge ? { status: 413, body: 'too large' } : (queue.shift() ?? fallback);
      const reply = () => {
        res.writeHead(answer.status, answer.headers ?? { 'content-type': 'text/plain' });
        res.end(answer.body ?? '');
      };
      if (answer.delayMs) {
        const t = setTimeout(() => {
          timers.delete(t);
          reply();
        }, answer.delayMs);
        timers.add(t);
      } else {
        reply();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    respondWith: (...responses) => queue.push(...responses),
    setDefault: (response) => {
      fallback = response;
    },
    reset: () => {
      requests.length = 0;
      queue.length = 0;
    },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
