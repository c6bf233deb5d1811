import type { FastifyInstance } from 'fastify';

/** A named dependency check for /readyz; it throws when the dependency is unreachable. */
export type ReadinessCheck = () => Promise<void>;

const CHECK_TIMEOUT_MS = 3000;

async function runCheck(check: ReadinessCheck): Promise<{ ok: boolean; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message.slice(0, 300) };
  } finally {
    clearTimeout(timer);
  }
}

async function readinessReport(checks: Record<string, ReadinessCheck>) {
  const names = Object.keys(checks);
  const results = await Promise.all(names.map((name) => runCheck(checks[name]!)));
  const ready = results.every((r) => r.ok);
  return { ready, checks: Object.fromEntries(names.map((name, i) => [name, results[i]])) };
}

/**
 * /readyz: everything an incident needs (for people and monitoring). /readyz/intake: whether this API can
 * take an alert now, the probe that keeps it in its Service (by default the same checks).
 */
export function healthRoutes(checks: Record<string, ReadinessCheck>, intakeChecks = checks) {
  return async function register(app: FastifyInstance) {
    // Probes are never rate-limited: a kubelet that gets 429 would restart or unlist a healthy API.
    const probe = { config: { rateLimit: false } } as const;
    app.get('/healthz', probe, async () => ({ status: 'ok' }));
    for (const [url, these] of [
      ['/readyz', checks],
      ['/readyz/intake', intakeChecks],
    ] as const) {
      app.get(url, probe, async (_request, reply) => {
        const { ready, checks: report } = await readinessReport(these);
        return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', checks: report });
      });
    }
  };
}
