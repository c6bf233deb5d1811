/**
 * `holdfast preflight`: forensic readiness, checked before an incident (README, "Preflight").
 *
 *   holdfast preflight [--namespace NS] [--only CHECK,…] [--kubeconfig FILE] [--service-accounts NS] [--max-skew SECONDS] [--json]
 *   holdfast preflight --remote [--api URL] [--token T] [--namespace NS] [--only CHECK,…] [--json]
 *
 * Locally it reads the worker's settings (KUBECONFIG or HOLDFAST_{CAPTURE,CONTAINMENT}_KUBECONFIG, S3_*,
 * TEMPORAL_*, HOLDFAST_PLAYBOOKS, HOLDFAST_COLLECTOR_IMAGE) and creates throwaway pods as the operator
 * (--kubeconfig, else KUBECONFIG); --service-accounts NS checks the deployed identities (holdfast-capture and
 * holdfast-containment in NS, with tokens the operator mints) instead of the configured kubeconfigs; --remote asks
 * the API's GET /v1/preflight instead.
 * Exit codes: 0 every check an enabled playbook needs passed; 1 one of them failed; 2 usage, configuration or API error.
 */
import { parseArgs } from 'node:util';
import { stripControlChars } from '../common/k8s-names';
import { loadConfig, silenceAwsSdkNodeWarning, type CliConfig } from '../common/config';
import {
  exitCodeOf,
  isBlocking,
  PREFLIGHT_EXIT,
  type PreflightOptions,
  type PreflightReport,
} from '../common/preflight';

export const PREFLIGHT_USAGE =
  '  holdfast preflight [--namespace NS] [--only CHECK,…] [--kubeconfig FILE] [--service-accounts NS] [--max-skew SECONDS] [--remote] [--json]';

/** A whole preflight may take minutes (throwaway pods); the API answers when every check ended. */
const REMOTE_TIMEOUT_MS = 15 * 60_000;

const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const CHECK_NAME = /^[a-z0-9-]{1,32}$/;

export interface PreflightIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  config: CliConfig;
  fetch?: typeof fetch;
  /** Runs the checks in-process; tests inject one. Default: the worker's composition (worker/preflight.ts). */
  runLocal?: (
    options: PreflightOptions,
    setup: { operatorKubeconfig?: string; maxSkewMs?: number },
  ) => Promise<PreflightReport>;
}

interface LocalSetup {
  operatorKubeconfig?: string;
  maxSkewMs?: number;
  serviceAccounts?: { namespace: string };
}

class UsageError extends Error {}

/** The readable table: one line per check, its fix under it; our own API's text still goes through a filter. */
export function formatReport(report: PreflightReport): string {
  const safe = (text: string | undefined, max = 2000) => stripControlChars(text ?? '').slice(0, max);
  const width = Math.max(5, ...report.results.map((r) => safe(r.name, 32).length));
  const lines: string[] = [];
  for (const r of report.results) {
    const needed = r.neededBy ? `needed by ${safe(r.neededBy, 300)}` : 'not needed by an enabled playbook';
    lines.push(`${r.status.toUpperCase().padEnd(4)}  ${safe(r.name, 32).padEnd(width)}  ${safe(r.detail)}`);
    lines.push(
      `${''.padEnd(6 + width)}  (${needed}; needs ${safe(r.needs, 200)}; ${(r.durationMs / 1000).toFixed(1)} s)`,
    );
    if (r.fix && r.status !== 'pass') lines.push(`${''.padEnd(6 + width)}  fix: ${safe(r.fix)}`);
  }
  if (report.swept?.length)
    lines.push(
      `removed ${report.swept.length} throwaway object(s) left by an earlier run: ${report.swept.map((s) => safe(s, 120)).join(', ')}`,
    );
  const blocking = report.results.filter(isBlocking).map((r) => safe(r.name, 32));
  lines.push(
    blocking.length === 0
      ? `ready: every check the enabled playbooks need passed (exit ${PREFLIGHT_EXIT.ready})`
      : `NOT READY: ${blocking.join(', ')} failed and an enabled playbook needs ${blocking.length > 1 ? 'them' : 'it'} (exit ${PREFLIGHT_EXIT.notReady})`,
  );
  return `${lines.join('\n')}\n`;
}

async function remoteReport(io: PreflightIo, api: string, token: string | undefined, options: PreflightOptions) {
  const url = new URL(`${api.replace(/\/+$/, '')}/v1/preflight`);
  if (options.namespace) url.searchParams.set('namespace', options.namespace);
  if (options.only) url.searchParams.set('only', options.only.join(','));
  const response = await (io.fetch ?? fetch)(url, {
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'user-agent': 'holdfast-cli' },
    signal: AbortSignal.timeout(REMOTE_TIMEOUT_MS),
  }).catch((err: Error) => {
    throw new Error(
      `cannot reach the Holdfast API at ${url.origin}: ${(err.cause as Error | undefined)?.message ?? err.message}`,
    );
  });
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as { title?: string; detail?: string };
    throw new Error(`${response.status} ${[body.title, body.detail].filter(Boolean).join(': ')}`.slice(0, 500));
  }
  return (await response.json()) as PreflightReport;
}

/** Runs `holdfast preflight …` (argv after the word preflight); resolves with the exit code. */
export async function preflightCommand(argv: string[], io: PreflightIo): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        namespace: { type: 'string' },
        only: { type: 'string' },
        kubeconfig: { type: 'string' },
        'service-accounts': { type: 'string' },
        'max-skew': { type: 'string' },
        remote: { type: 'boolean', default: false },
        api: { type: 'string' },
        token: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      io.stdout.write(`usage:\n${PREFLIGHT_USAGE}\n`);
      return PREFLIGHT_EXIT.ready;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected "${positionals[0]!.slice(0, 80)}"`);
    if (values.namespace !== undefined && !NAMESPACE.test(values.namespace))
      throw new UsageError(`--namespace "${values.namespace.slice(0, 80)}" is not a namespace name`);
    const only = values.only?.split(',').map((s) => s.trim());
    if (only?.some((name) => !CHECK_NAME.test(name))) throw new UsageError('--only takes check names, comma-separated');
    const maxSkew = values['max-skew'] === undefined ? undefined : Number(values['max-skew']);
    if (maxSkew !== undefined && !(maxSkew > 0 && maxSkew <= 3600))
      throw new UsageError('--max-skew must be 0–3600 seconds');
    const accounts = values['service-accounts'];
    if (accounts !== undefined && !NAMESPACE.test(accounts))
      throw new UsageError(`--service-accounts "${accounts.slice(0, 80)}" is not a namespace name`);
    if (values.remote && (values.kubeconfig || maxSkew !== undefined || accounts))
      throw new UsageError('--kubeconfig, --service-accounts and --max-skew are the API process’s own with --remote');
    const options: PreflightOptions = {
      ...(values.namespace ? { namespace: values.namespace } : {}),
      ...(only ? { only } : {}),
    };
    const report = values.remote
      ? await remoteReport(io, values.api ?? io.config.apiUrl, values.token ?? io.config.token, options)
      : await (io.runLocal ?? runLocal)(options, {
          ...(values.kubeconfig ? { operatorKubeconfig: values.kubeconfig } : {}),
          ...(maxSkew !== undefined ? { maxSkewMs: maxSkew * 1000 } : {}),
          ...(accounts ? { serviceAccounts: { namespace: accounts } } : {}),
        });
    io.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return exitCodeOf(report);
  } catch (err) {
    const usage = err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    io.stderr.write(`holdfast preflight: ${(err as Error).message}\n${usage ? `usage:\n${PREFLIGHT_USAGE}\n` : ''}`);
    return PREFLIGHT_EXIT.error;
  }
}

/**
 * The worker's composition, loaded only for a local run. The CLI otherwise reaches the product only through
 * the API; a local preflight checks this machine's view of the worker's identities and stores, so it builds
 * them as the worker does (worker/preflight.ts), loaded on demand so other commands never pay for it.
 */
async function runLocal(options: PreflightOptions, setup: LocalSetup) {
  silenceAwsSdkNodeWarning();
  const { runPreflight } = await import('../worker/preflight.js');
  return runPreflight(loadConfig(), options, setup);
}
