/** The API client the CLI uses: bearer token, problem+json errors turned into readable messages. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ApiClient {
  baseUrl: string;
  /** `timeoutMs`: a longer wait than the usual 60 s, for a route that answers when long work ended. */
  getJson<T>(
    path: string,
    query?: Record<string, string | number | undefined>,
    opts?: { timeoutMs?: number },
  ): Promise<T>;
  /** POST a JSON body, read a JSON answer. */
  postJson<T>(path: string, body: unknown): Promise<T>;
  /** A streamed GET: 60 s to get the response headers, then as long as the body keeps coming. */
  getStream(path: string): Promise<Response>;
}

const TIMEOUT_MS = 60_000;

export function apiClient(baseUrl: string, token: string | undefined, fetchImpl: typeof fetch = fetch): ApiClient {
  const base = baseUrl.replace(/\/+$/, '');
  const headers = (): Record<string, string> => ({
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    'user-agent': 'holdfast-cli',
  });

  const request = async (
    path: string,
    query: Record<string, string | number | undefined> | undefined,
    signal: AbortSignal,
    body?: unknown,
  ): Promise<Response> => {
    const url = new URL(base + path);
    for (const [k, v] of Object.entries(query ?? {}))
      if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    let response: Response;
    try {
      response = await fetchImpl(
        url,
        body === undefined
          ? { headers: headers(), signal }
          : {
              method: 'POST',
              headers: { ...headers(), 'content-type': 'application/json' },
              body: JSON.stringify(body),
              signal,
            },
      );
    } catch (err) {
      const cause =
        (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
      throw new ApiError(0, `cannot reach the Holdfast API at ${base}: ${cause}`);
    }
    if (!response.ok) {
      let detail = response.statusText;
      try {
        const body = (await response.json()) as { title?: string; detail?: string };
        detail = [body.title, body.detail].filter(Boolean).join(': ') || detail;
      } catch {
        // Not JSON.
      }
      throw new ApiError(response.status, `${response.status} ${detail}`.slice(0, 500));
    }
    return response;
  };

  const json = async <T>(
    path: string,
    query: Record<string, string | number | undefined> | undefined,
    body?: unknown,
    timeoutMs = TIMEOUT_MS,
  ): Promise<T> => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`timed out after ${timeoutMs / 1000} s`)), timeoutMs);
    try {
      const response = await request(path, query, controller.signal, body);
      return (await response.json()) as T;
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw new ApiError(0, `bad response from ${base}${path}: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    baseUrl: base,
    getJson<T>(path: string, query?: Record<string, string | number | undefined>, opts?: { timeoutMs?: number }) {
      return json<T>(path, query, undefined, opts?.timeoutMs);
    },
    postJson<T>(path: string, body: unknown) {
      return json<T>(path, undefined, body);
    },
    async getStream(path: string) {
      const controller = new AbortController();
      const timer = setTimeout(
        () => controller.abort(new Error(`no response within ${TIMEOUT_MS / 1000} s`)),
        TIMEOUT_MS,
      );
      try {
        return await request(path, undefined, controller.signal);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
