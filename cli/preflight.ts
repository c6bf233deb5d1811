/**
 * `holdfast preflight`: forensic readiness, checked before an incident (README, "Preflight").
 *
 *   holdfast preflight [--cluster NAME] [--namespace NS] [--only CHECK,…] [--api URL] [--token T] [--json]
 *
 * Like every command it asks the API (GET /v1/preflight, operator token), which starts preflightWorkflow on the
 * worker serving the cluster: the checks run there, as the worker's own identities, with its settings.
 * Exit codes: 0 every check an enabled playbook needs passed; 1 one of them failed; 2 usage or API error.
 */
import { parseArgs } from 'node:util';
import { stripControlChars } from '../common/k8s-names';
import type { CliConfig } from '../common/config';
import { exitCodeOf, isBlocking, PREFLIGHT_BOUNDS, PREFLIGHT_EXIT, type PreflightReport } from '../common/preflight';
import { apiClient } from './http';

export const PREFLIGHT_USAGE = '  holdfast preflight [--cluster NAME] [--namespace NS] [--only CHECK,…]';

const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const CLUSTER = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const CHECK_NAME = /^[a-z0-9-]{1,32}$/;

export interface PreflightIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  config: CliConfig;
  fetch?: typeof fetch;
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

/** Runs `holdfast preflight …` (argv after the word preflight); resolves with the exit code. */
export async function preflightCommand(argv: string[], io: PreflightIo): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        cluster: { type: 'string' },
        namespace: { type: 'string' },
        only: { type: 'string' },
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
    if (values.cluster !== undefined && !CLUSTER.test(values.cluster))
      throw new UsageError(`--cluster "${values.cluster.slice(0, 80)}" is not a cluster name`);
    if (values.namespace !== undefined && !NAMESPACE.test(values.namespace))
      throw new UsageError(`--namespace "${values.namespace.slice(0, 80)}" is not a namespace name`);
    const only = values.only?.split(',').map((s) => s.trim());
    if (only?.some((name) => !CHECK_NAME.test(name))) throw new UsageError('--only takes check names, comma-separated');
    const api = apiClient(values.api ?? io.config.apiUrl, values.token ?? io.config.token, io.fetch);
    // The API answers once every check ended on the worker: minutes when throwaway pods are slow to start.
    const report = await api.getJson<PreflightReport>(
      '/v1/preflight',
      { cluster: values.cluster, namespace: values.namespace, only: only?.join(',') },
      { timeoutMs: PREFLIGHT_BOUNDS.cliMs },
    );
    io.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return exitCodeOf(report);
  } catch (err) {
    const usage = err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    io.stderr.write(`holdfast preflight: ${(err as Error).message}\n${usage ? `usage:\n${PREFLIGHT_USAGE}\n` : ''}`);
    return PREFLIGHT_EXIT.error;
  }
}
