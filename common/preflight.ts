/**
 * Forensic readiness, checked before an incident: each check names what it needs, says pass, fail or skip
 * with a detail and, when it fails, the fix. The checks themselves live in adapters/preflight/ (one file each,
 * one registry line); this module holds what the CLI and the API share: the report, the runner's bounds and
 * the exit code. Pure: the checks receive their dependencies, the runner only calls and bounds them.
 */

export type CheckStatus = 'pass' | 'fail' | 'skip';

export interface CheckOutcome {
  status: CheckStatus;
  /** What was found, in our own words (anything read from the cluster is bounded and reduced first). */
  detail: string;
  /** What to do about a failure (or about a skip that hides one); absent on a pass. */
  fix?: string;
}

/** One readiness check, describing itself. `D` is what it receives (adapters/preflight/types.ts). */
export interface PreflightCheck<D> {
  name: string;
  /** What it needs to run (an identity, the operator's kubeconfig, the bucket), shown with the result. */
  needs: string;
  /**
   * The enabled playbooks' need for it: a reason ("playbook default runs isolate") when a failure would break
   * an incident, undefined when nothing enabled depends on it (a failure is reported but does not fail the run).
   */
  neededBy(deps: D): string | undefined;
  run(deps: D, signal: AbortSignal): Promise<CheckOutcome>;
}

export interface CheckResult extends CheckOutcome {
  name: string;
  needs: string;
  /** Why an enabled playbook needs it, or absent. */
  neededBy?: string;
  durationMs: number;
}

export interface PreflightReport {
  /** 'fail' when a check that an enabled playbook needs failed. */
  verdict: 'ready' | 'not-ready';
  startedAt: string;
  results: CheckResult[];
  /** Throwaway objects of an earlier, crashed run removed before the checks (kind/name). */
  swept?: string[];
}

/**
 * The port that runs a preflight: the worker's composition (worker/preflight.ts), called by the `preflight`
 * activity (activities/preflight.ts) on the worker that holds the cluster's identities. `signal` is the
 * activity's cancellation: the running check is aborted and the throwaway objects are still removed.
 */
export type PreflightRunner = (options: PreflightOptions, signal?: AbortSignal) => Promise<PreflightReport>;

/**
 * Bounds of one preflight through Temporal (workflows/preflight.ts) and of those who wait for it. The checks
 * run one after another, each at most 180 s (worker/preflight.ts), and two sweeps of at most 30 s each: seven
 * checks fit in 22 minutes; the activity gets 23, the API waits a minute more, the CLI a minute more still.
 */
export const PREFLIGHT_BOUNDS = {
  activityMs: 23 * 60_000,
  /** The activity heartbeats every 10 s while a check runs: a worker that died is noticed within a minute. */
  heartbeatTimeoutMs: 60_000,
  heartbeatEveryMs: 10_000,
  /** The API's wait for the workflow's result (the workflow's own execution timeout too). */
  resultMs: 24 * 60_000,
  /**
   * The CLI's wait for the API's answer. Node's fetch itself gives up after 300 s without response headers
   * (undici's headersTimeout, not settable without the undici package): a run longer than that ends on the
   * worker all the same, its report in the workflow's result (`temporal workflow result -w preflight/<cluster>`).
   */
  cliMs: 25 * 60_000,
  /** How long the API tries to reach Temporal before answering with a failed `temporal` check. */
  temporalStartMs: 10_000,
} as const;

/** Workflow type and id of a preflight: one id per cluster, so only one runs at a time on a cluster. */
export const PREFLIGHT_WORKFLOW = 'preflightWorkflow';
export const preflightWorkflowId = (cluster: string) => `preflight/${cluster}`;

export interface PreflightOptions {
  /** Namespace of the throwaway pods (the collector, NetworkPolicy probes). */
  namespace?: string;
  /** Only these checks (by name); unset: all. */
  only?: readonly string[];
}

/** Exit codes of `holdfast preflight` (README, "Preflight"). */
export const PREFLIGHT_EXIT = {
  /** Every check an enabled playbook needs passed (others may have failed or been skipped). */
  ready: 0,
  /** A check an enabled playbook needs failed or could not run. */
  notReady: 1,
  /** Usage, configuration or API error: no verdict. */
  error: 2,
} as const;

/** A needed check counts against readiness unless it passed. */
export function isBlocking(result: Pick<CheckResult, 'status' | 'neededBy'>): boolean {
  return result.neededBy !== undefined && result.status !== 'pass';
}

export function verdictOf(results: readonly CheckResult[]): PreflightReport['verdict'] {
  return results.some(isBlocking) ? 'not-ready' : 'ready';
}

export function exitCodeOf(report: Pick<PreflightReport, 'results'>): number {
  return verdictOf(report.results) === 'ready' ? PREFLIGHT_EXIT.ready : PREFLIGHT_EXIT.notReady;
}

/** Runs `work`, aborting it and rejecting once `ms` passed. */
export async function withTimeout<T>(
  ms: number,
  what: string,
  work: (signal: AbortSignal) => Promise<T>,
  outer?: AbortSignal,
): Promise<T> {
  const controller = new AbortController();
  const onOuter = () => controller.abort(outer?.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(`${what}: no answer within ${Math.round(ms / 1000)} s`);
      controller.abort(err);
      reject(err);
    }, ms);
  });
  try {
    return await Promise.race([work(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuter);
  }
}

/**
 * Runs the checks one after another (throwaway pods of two checks must not compete for two cores), each
 * bounded by `timeoutMs`: a check that throws or times out is a fail with its message. One check's failure
 * never stops the others.
 */
export async function runChecks<D>(
  checks: readonly PreflightCheck<D>[],
  deps: D,
  opts: { timeoutMs: number; only?: readonly string[]; now?: () => number; signal?: AbortSignal },
): Promise<PreflightReport> {
  const now = opts.now ?? Date.now;
  const startedAt = new Date(now()).toISOString();
  const chosen = opts.only ? checks.filter((c) => opts.only!.includes(c.name)) : checks;
  const results: CheckResult[] = [];
  // A check asked for by a name that does not exist is not silently dropped: it fails and says which exist.
  for (const name of opts.only ?? [])
    if (!checks.some((c) => c.name === name))
      results.push({
        name: name.slice(0, 32),
        needs: 'nothing',
        status: 'fail',
        detail: `no such check; the checks are ${checks.map((c) => c.name).join(', ')}`,
        fix: 'name existing checks with --only',
        neededBy: 'asked for by name',
        durationMs: 0,
      });
  for (const check of chosen) {
    const started = now();
    let outcome: CheckOutcome;
    try {
      opts.signal?.throwIfAborted();
      outcome = await withTimeout(opts.timeoutMs, check.name, (signal) => check.run(deps, signal), opts.signal);
    } catch (err) {
      outcome = {
        status: 'fail',
        detail: `the check could not run: ${String((err as Error).message ?? err).slice(0, 500)}`,
        fix: 'make what the check needs reachable and run preflight again',
      };
    }
    let neededBy: string | undefined;
    try {
      neededBy = check.neededBy(deps);
    } catch {
      neededBy = 'unknown (the enabled playbooks could not be read)';
    }
    results.push({
      name: check.name,
      needs: check.needs,
      ...outcome,
      ...(neededBy !== undefined ? { neededBy } : {}),
      durationMs: now() - started,
    });
  }
  return { verdict: verdictOf(results), startedAt, results };
}
