/**
 * The worker pod's token minter, a native sidecar in deploy/worker.yaml. Kubernetes projects a token only
 * for a pod's own service account, and the worker acts as two identities with roles of their own (capture
 * and containment, deploy/rbac.yaml). This process runs as a third service account that may do nothing
 * but create tokens for those two; it asks the TokenRequest API for short-lived tokens and writes them where the worker reads them (HOLDFAST_CAPTURE_TOKEN_FILE, HOLDFAST_CONTAINMENT_TOKEN_FILE).
 * Each is renewed at half its lifetime, and client-node re-reads a token file at most 60 s after it
 * changes, so the worker never holds an expired token. Unlike a legacy token Secret, a stolen token stops
 * working within the hour. (The API server refuses to bind a token of one service account to a pod that
 * runs as another, so these are not pod-bound; the minter's own projected token is.)
 *
 *   node dist/worker/token-minter.js --namespace NS --dir DIR [--expiration-seconds 3600] FILE=SERVICEACCOUNT...
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { loadConfig } from '../common/config';
import { createLogger, type Logger } from '../common/logger';

/** The TokenRequest API's floor: a shorter lifetime is refused. */
export const MIN_EXPIRATION_SECONDS = 600;
/** Renewal never waits less than this, so a server answering with tiny lifetimes cannot make us spin. */
const MIN_RENEW_MS = 30_000;
/** After a failed round, the next try. */
const RETRY_MS = 10_000;

/** Where a token comes from: the TokenRequest API in a cluster, a fake in tests. */
export interface TokenSource {
  mint(serviceAccount: string): Promise<{ token: string; expiresAt: number }>;
}

export interface MinterOptions {
  namespace: string;
  expirationSeconds: number;
}

/** Tokens from the TokenRequest API (`create serviceaccounts/token`). */
export function tokenRequestSource(core: k8s.CoreV1Api, opts: MinterOptions): TokenSource {
  return {
    async mint(serviceAccount) {
      const answer = await core.createNamespacedServiceAccountToken({
        name: serviceAccount,
        namespace: opts.namespace,
        body: {
          spec: { audiences: [], expirationSeconds: opts.expirationSeconds },
        },
      });
      const token = answer.status?.token;
      const expires = answer.status?.expirationTimestamp;
      if (!token || !expires) throw new Error(`TokenRequest for ${serviceAccount} answered without a token`);
      return { token, expiresAt: new Date(expires).getTime() };
    },
  };
}

/**
 * Replaces the file in one step (write a temporary file, then rename), so a reader sees the old token or
 * the new one, never half of one. Mode 0600: only the worker's user reads it.
 */
export function writeTokenFile(dir: string, file: string, token: string): void {
  const target = path.join(dir, file);
  const temp = path.join(dir, `.${file}.${process.pid}.tmp`);
  fs.writeFileSync(temp, token, { mode: 0o600 });
  fs.renameSync(temp, target);
}

/** Mints every identity's token into `dir`; resolves with the earliest expiry. */
export async function mintAll(source: TokenSource, dir: string, identities: Record<string, string>): Promise<number> {
  let earliest = Infinity;
  for (const [file, serviceAccount] of Object.entries(identities)) {
    const { token, expiresAt } = await source.mint(serviceAccount);
    writeTokenFile(dir, file, token);
    earliest = Math.min(earliest, expiresAt);
  }
  return earliest;
}

/** How long to wait before the next round: half the remaining lifetime, never below MIN_RENEW_MS. */
export function renewDelay(expiresAt: number, now: number): number {
  return Math.max(MIN_RENEW_MS, Math.floor((expiresAt - now) / 2));
}

/** Mints, then renews until `signal` aborts. A failed round is logged and retried soon. */
export async function runMinter(deps: {
  source: TokenSource;
  dir: string;
  identities: Record<string, string>;
  logger: Pick<Logger, 'info' | 'error'>;
  signal: AbortSignal;
  now?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}): Promise<void> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? abortableSleep;
  while (!deps.signal.aborted) {
    let delay = RETRY_MS;
    try {
      const expiresAt = await mintAll(deps.source, deps.dir, deps.identities);
      delay = renewDelay(expiresAt, now());
      deps.logger.info(
        { identities: Object.values(deps.identities), expiresAt: new Date(expiresAt).toISOString(), renewInMs: delay },
        'tokens written',
      );
    } catch (err) {
      deps.logger.error({ err }, 'minting tokens failed; retrying');
    }
    await sleep(delay, deps.signal);
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** The command line, validated: file names are plain names inside `--dir`. */
export function parseMinterArgs(argv: string[]): MinterOptions & { dir: string; identities: Record<string, string> } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      namespace: { type: 'string' },
      dir: { type: 'string' },
      'expiration-seconds': { type: 'string', default: '3600' },
    },
  });
  const usage = 'usage: token-minter --namespace NS --dir DIR [--expiration-seconds N] FILE=SERVICEACCOUNT...';
  if (!values.namespace || !values.dir || positionals.length === 0) throw new Error(usage);
  const expirationSeconds = Number(values['expiration-seconds']);
  if (!Number.isInteger(expirationSeconds) || expirationSeconds < MIN_EXPIRATION_SECONDS || expirationSeconds > 86_400)
    throw new Error(`--expiration-seconds must be an integer from ${MIN_EXPIRATION_SECONDS} to 86400`);
  const identities: Record<string, string> = {};
  for (const pair of positionals) {
    const match = /^([a-z0-9][a-z0-9-]{0,62})=([a-z0-9][a-z0-9.-]{0,252})$/.exec(pair);
    if (!match) throw new Error(`"${pair.slice(0, 80)}" is not FILE=SERVICEACCOUNT (${usage})`);
    identities[match[1]!] = match[2]!;
  }
  return {
    namespace: values.namespace,
    dir: path.resolve(values.dir),
    expirationSeconds,
    identities,
  };
}

async function main(): Promise<void> {
  const options = parseMinterArgs(process.argv.slice(2));
  const logger = createLogger('holdfast-token-minter', loadConfig().logging);
  const kc = new k8s.KubeConfig();
  kc.loadFromCluster();
  const stop = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());
  await runMinter({
    source: tokenRequestSource(kc.makeApiClient(k8s.CoreV1Api), options),
    dir: options.dir,
    identities: options.identities,
    logger,
    signal: stop.signal,
  });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
