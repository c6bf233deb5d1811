/**
 * The embedded stack: a Temporal dev server (SQLite, so incidents survive a restart) and versitygw
 * (posix backend with versioning, so Object Lock works), both built from source by servers.ts.
 * Used by `npm start` (fixed ports, data under .holdfast/) and `npm test` (free ports, a temp dir).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import {
  CreateBucketCommand,
  GetObjectLockConfigurationCommand,
  HeadBucketCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createS3Client } from '../adapters/s3/client';
import { SEARCH_ATTRIBUTE_NAMES } from '../common/search-attributes';
import { spawnOwned, type OwnedChild } from './processes';
import { embeddedS3Accounts, provisionS3Accounts, type S3Accounts } from './s3-accounts';
import { ensureServer } from './servers';

export interface StackOptions {
  dataDir: string;
  namespace: string;
  bucket: string;
  temporalPort?: number;
  /** Omit for a headless server (tests). */
  temporalUiPort?: number;
  s3Port?: number;
  /** HOLDFAST_LEGAL_HOLD: the worker's account may set a legal hold on what it writes. */
  legalHoldOnWrite?: boolean;
  /** Temporal dynamic config, e.g. low history limits for tests of continue-as-new. */
  temporalDynamicConfig?: Record<string, unknown>;
  log: (line: string) => void;
}

export interface RunningStack {
  temporalAddress: string;
  temporalUiUrl?: string;
  s3Endpoint: string;
  /** The root account: setting up buckets and tests only, never the worker's or the API's. */
  s3Credentials: { accessKeyId: string; secretAccessKey: string };
  /** The worker's and the API's own least-privilege accounts (scripts/s3-accounts.ts). */
  s3Accounts: S3Accounts;
  /** Environment a worker or API needs to reach this stack. */
  env: Record<string, string>;
  /** Server process ids, for benchmarks that measure their memory. */
  pids: { temporal?: number; s3?: number };
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Credentials for the embedded S3, generated once per data directory and kept private (0600). */
function embeddedS3Credentials(dataDir: string): { accessKeyId: string; secretAccessKey: string } {
  const file = path.join(dataDir, 's3-credentials.json');
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'));
  const creds = {
    accessKeyId: `holdfast${crypto.randomBytes(6).toString('hex')}`,
    secretAccessKey: crypto.randomBytes(24).toString('base64url'),
  };
  fs.writeFileSync(file, JSON.stringify(creds), { mode: 0o600 });
  return creds;
}

/** Servers from an earlier run that died without cleaning up would hold our ports and data files. */
function killStale(pidFile: string, log: (line: string) => void): void {
  if (!fs.existsSync(pidFile)) return;
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  fs.rmSync(pidFile, { force: true });
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (/temporal|versitygw/.test(cmdline)) {
      log(`[holdfast] stopping a server left over from an earlier run (pid ${pid})`);
      process.kill(pid, 'SIGKILL');
    }
  } catch {
    // Already gone.
  }
}

/** Server output goes to a log file in the data dir; a pid file lets the next run clean up after a crash. */
function startServer(
  name: string,
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  logFile: string,
  pidFile: string,
): OwnedChild {
  const owned = spawnOwned(name, bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  const out = fs.createWriteStream(logFile, { flags: 'a' });
  // Two pipes share one file: neither may end it, or the other writes after end. It ends with the child.
  owned.child.stdout?.pipe(out, { end: false });
  owned.child.stderr?.pipe(out, { end: false });
  if (owned.child.pid) fs.writeFileSync(pidFile, String(owned.child.pid));
  void owned.exited.then(() => {
    fs.rmSync(pidFile, { force: true });
    out.end();
  });
  return owned;
}

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  died: Promise<unknown>,
  logFile: string,
): Promise<void> {
  let dead = false;
  void died.then(() => {
    dead = true;
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (dead) throw new Error(`${what} exited during start-up; see ${logFile}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not become ready within ${timeoutMs / 1000}s; see ${logFile}`);
}

export async function startTemporal(
  opts: StackOptions,
): Promise<{ address: string; uiUrl?: string; pid?: number; stop: (graceMs?: number) => Promise<void> }> {
  const bin = await ensureServer('temporal', opts.log);
  const port = opts.temporalPort ?? (await freePort());
  if (!(await portIsFree(port)))
    throw new Error(`port ${port} for Temporal is in use (set HOLDFAST_TEMPORAL_PORT or TEMPORAL_ADDRESS)`);
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    path.join(opts.dataDir, 'temporal.sqlite'),
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--namespace',
    opts.namespace,
    '--log-format',
    'json',
    '--log-level',
    'warn',
  ];
  if (opts.temporalUiPort) args.push('--ui-port', String(opts.temporalUiPort));
  else args.push('--headless');
  for (const name of SEARCH_ATTRIBUTE_NAMES) args.push('--search-attribute', `${name}=Keyword`);
  for (const [key, value] of Object.entries(opts.temporalDynamicConfig ?? {}))
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);

  const logFile = path.join(opts.dataDir, 'temporal.log');
  const pidFile = path.join(opts.dataDir, 'temporal.pid');
  killStale(pidFile, opts.log);
  const server = startServer('temporal', bin, args, process.env, logFile, pidFile);
  const address = `127.0.0.1:${port}`;
  await waitFor(
    'Temporal',
    async () => {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.describeNamespace({ namespace: opts.namespace });
        return true;
      } finally {
        await connection.close();
      }
    },
    60_000,
    server.exited,
    logFile,
  );
  return {
    address,
    uiUrl: opts.temporalUiPort ? `http://127.0.0.1:${opts.temporalUiPort}` : undefined,
    pid: server.child.pid,
    stop: (graceMs) => server.stop(graceMs),
  };
}

export async function startS3(opts: StackOptions): Promise<{
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  accounts: S3Accounts;
  pid?: number;
  stop: (graceMs?: number) => Promise<void>;
}> {
  const bin = await ensureServer('versitygw', opts.log);
  const port = opts.s3Port ?? (await freePort());
  if (!(await portIsFree(port))) throw new Error(`port ${port} for S3 is in use (set HOLDFAST_S3_PORT or S3_ENDPOINT)`);
  const root = path.join(opts.dataDir, 's3', 'root');
  const versions = path.join(opts.dataDir, 's3', 'versions');
  // versitygw's internal IAM (accounts beyond root) keeps its users here.
  const iam = path.join(opts.dataDir, 's3', 'iam');
  for (const dir of [root, versions, iam]) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const credentials = embeddedS3Credentials(opts.dataDir);
  const accounts = embeddedS3Accounts(opts.dataDir);
  const logFile = path.join(opts.dataDir, 'versitygw.log');
  const pidFile = path.join(opts.dataDir, 'versitygw.pid');
  killStale(pidFile, opts.log);
  // Credentials go through the environment, not argv, so `ps` does not show them.
  const server = startServer(
    'versitygw',
    bin,
    ['--port', `127.0.0.1:${port}`, '--iam-dir', iam, 'posix', '--versioning-dir', versions, root],
    { ...process.env, ROOT_ACCESS_KEY: credentials.accessKeyId, ROOT_SECRET_KEY: credentials.secretAccessKey },
    logFile,
    pidFile,
  );
  const endpoint = `http://127.0.0.1:${port}`;
  const s3 = createS3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    bucket: opts.bucket,
    ...credentials,
  });
  try {
    await waitFor(
      'versitygw',
      async () => {
        await s3
          .send(new HeadBucketCommand({ Bucket: opts.bucket }))
          .catch((err: { name?: string; $metadata?: { httpStatusCode?: number } }) => {
            if (err.$metadata?.httpStatusCode === 404 || err.name === 'NotFound') return;
            throw err;
          });
        return true;
      },
      30_000,
      server.exited,
      logFile,
    );
    await ensureLockedBucket(s3, opts.bucket);
    await provisionS3Accounts(s3, endpoint, credentials, opts.bucket, accounts, {
      legalHoldOnWrite: opts.legalHoldOnWrite ?? false,
    });
  } catch (err) {
    await server.stop();
    throw err;
  } finally {
    s3.destroy();
  }
  return { endpoint, credentials, accounts, pid: server.child.pid, stop: (graceMs) => server.stop(graceMs) };
}

/** The evidence bucket must have Object Lock from birth: S3 cannot add it to an existing bucket reliably. */
export async function ensureLockedBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status !== 404) throw err;
    await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
    return;
  }
  // An existing bucket without Object Lock cannot hold evidence that stands up: refuse loudly.
  const lock = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket })).catch(() => undefined);
  if (lock?.ObjectLockConfiguration?.ObjectLockEnabled !== 'Enabled') {
    throw new Error(
      `bucket ${bucket} exists without Object Lock; create a new bucket with Object Lock enabled (S3_BUCKET)`,
    );
  }
}

export async function startStack(opts: StackOptions): Promise<RunningStack> {
  fs.mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const s3 = await startS3(opts);
  let temporal;
  try {
    temporal = await startTemporal(opts);
  } catch (err) {
    await s3.stop();
    throw err;
  }
  return {
    temporalAddress: temporal.address,
    temporalUiUrl: temporal.uiUrl,
    s3Endpoint: s3.endpoint,
    s3Credentials: s3.credentials,
    s3Accounts: s3.accounts,
    env: {
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: opts.namespace,
      S3_ENDPOINT: s3.endpoint,
      S3_BUCKET: opts.bucket,
      S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    },
    pids: { temporal: temporal.pid, s3: s3.pid },
    async stop() {
      await Promise.all([temporal.stop(), s3.stop()]);
    },
  };
}
