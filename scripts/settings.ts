/**
 * What the TypeScript scripts (`npm start`'s embedded servers, `npm test`, building the servers, the
 * demo) read from the environment, typed in one place. The product itself reads only common/config.ts;
 * the README lists both (test/unit/config.test.ts checks it), and scripts/cluster/README.md lists what
 * the local cluster's shell scripts read. Read at each call, not cached: tests change the environment.
 */
import os from 'node:os';
import path from 'node:path';
import type { Env } from '../common/config';

export type ServerName = 'temporal' | 'versitygw' | 'alertmanager';

export interface ScriptSettings {
  /** Where built servers are cached (HOLDFAST_CACHE_DIR, else $XDG_CACHE_HOME/holdfast, else ~/.cache/holdfast). */
  cacheDir: string;
  /** The Go binary that builds the servers (HOLDFAST_GO); unset: `go` on the PATH or /usr/local/go/bin/go. */
  go?: string;
  /**
   * Server binaries to use instead of building them (HOLDFAST_TEMPORAL_BIN, HOLDFAST_VERSITYGW_BIN, and
   * HOLDFAST_ALERTMANAGER_BIN: the Prometheus Alertmanager the intake's integration test sends through).
   */
  serverBins: Record<ServerName, string | undefined>;
  /** `npm start`'s embedded servers. Not validated, as they never were: the server reports a bad port. */
  ports: { s3: number; temporal: number; temporalUi: number };
  /** `npm test`: leave the local Kubernetes cluster down (its tests skip); keep the servers' data afterwards. */
  skipCluster: boolean;
  keepTestData: boolean;
  /** Where `npm run demo` works (one directory per run). */
  demoDir: string;
  /**
   * provision.js (compose's s3-setup): versitygw accounts to create for the worker and the API, bound to the
   * bucket by the least-privilege policy; unset: none (AWS: attach the IAM policies in evidence/README.md).
   */
  s3Accounts?: {
    worker: { accessKeyId: string; secretAccessKey: string };
    api: { accessKeyId: string; secretAccessKey: string };
  };
}

/** Both accounts' keys, or none: half a set would leave one service on the root account. */
function s3Accounts(env: Env): ScriptSettings['s3Accounts'] {
  const names = [
    'HOLDFAST_S3_WORKER_ACCESS_KEY',
    'HOLDFAST_S3_WORKER_SECRET_KEY',
    'HOLDFAST_S3_API_ACCESS_KEY',
    'HOLDFAST_S3_API_SECRET_KEY',
  ] as const;
  const [workerKey, workerSecret, apiKey, apiSecret] = names.map((n) => env[n] || undefined);
  if (!workerKey && !workerSecret && !apiKey && !apiSecret) return undefined;
  if (!workerKey || !workerSecret || !apiKey || !apiSecret) throw new Error(`set all of ${names.join(', ')} or none`);
  return {
    worker: { accessKeyId: workerKey, secretAccessKey: workerSecret },
    api: { accessKeyId: apiKey, secretAccessKey: apiSecret },
  };
}

function port(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  return raw ? Number(raw) : fallback;
}

export function scriptSettings(env: Env = process.env): ScriptSettings {
  const cacheDir = env.HOLDFAST_CACHE_DIR;
  const xdgCache = env.XDG_CACHE_HOME;
  return {
    cacheDir: cacheDir ? path.resolve(cacheDir) : path.join(xdgCache ?? path.join(os.homedir(), '.cache'), 'holdfast'),
    go: env.HOLDFAST_GO || undefined,
    serverBins: {
      temporal: env.HOLDFAST_TEMPORAL_BIN || undefined,
      versitygw: env.HOLDFAST_VERSITYGW_BIN || undefined,
      alertmanager: env.HOLDFAST_ALERTMANAGER_BIN || undefined,
    },
    ports: {
      s3: port(env, 'HOLDFAST_S3_PORT', 7070),
      temporal: port(env, 'HOLDFAST_TEMPORAL_PORT', 7233),
      temporalUi: port(env, 'HOLDFAST_TEMPORAL_UI_PORT', 8233),
    },
    skipCluster: env.HOLDFAST_SKIP_CLUSTER === '1',
    keepTestData: env.HOLDFAST_KEEP_TEST_DATA === '1',
    demoDir: env.HOLDFAST_DEMO_DIR ?? path.join(os.tmpdir(), 'holdfast-demo'),
    s3Accounts: s3Accounts(env),
  };
}
