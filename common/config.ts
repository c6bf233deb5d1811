import path from 'node:path';

/**
 * Every setting Holdfast reads, in one place. README's configuration table mirrors this list.
 * Values come from the environment so that the same build runs embedded, under compose, or in a cluster.
 */
export interface HoldfastConfig {
  dataDir: string;
  api: { host: string; port: number };
  temporal: { address?: string; namespace: string; taskQueue: string };
  s3: {
    endpoint?: string;
    region: string;
    bucket: string;
    forcePathStyle: boolean;
    accessKeyId?: string;
    secretAccessKey?: string;
  };
  retention: { mode: 'GOVERNANCE' | 'COMPLIANCE'; days: number };
  logLevel: string;
}

type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function intSetting(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}

function nonEmpty(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
}

export function loadConfig(env: Env = process.env, cwd = process.cwd()): HoldfastConfig {
  const mode = (env.HOLDFAST_RETENTION_MODE ?? 'GOVERNANCE').toUpperCase();
  if (mode !== 'GOVERNANCE' && mode !== 'COMPLIANCE') {
    throw new ConfigError(`HOLDFAST_RETENTION_MODE must be GOVERNANCE or COMPLIANCE, got "${mode}"`);
  }
  const bucket = env.S3_BUCKET ?? 'holdfast-evidence';
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new ConfigError(`S3_BUCKET "${bucket}" is not a valid bucket name`);
  }
  return {
    dataDir: path.resolve(cwd, env.HOLDFAST_DATA_DIR ?? '.holdfast'),
    api: {
      host: env.HOLDFAST_API_HOST ?? '127.0.0.1',
      port: intSetting(env, 'HOLDFAST_API_PORT', 8080, 0, 65535),
    },
    temporal: {
      address: nonEmpty(env, 'TEMPORAL_ADDRESS'),
      namespace: env.TEMPORAL_NAMESPACE ?? 'holdfast',
      taskQueue: env.HOLDFAST_TASK_QUEUE ?? 'holdfast',
    },
    s3: {
      endpoint: nonEmpty(env, 'S3_ENDPOINT'),
      region: env.S3_REGION ?? env.AWS_REGION ?? 'us-east-1',
      bucket,
      forcePathStyle: (env.S3_FORCE_PATH_STYLE ?? 'true') !== 'false',
      accessKeyId: nonEmpty(env, 'AWS_ACCESS_KEY_ID'),
      secretAccessKey: nonEmpty(env, 'AWS_SECRET_ACCESS_KEY'),
    },
    retention: { mode, days: intSetting(env, 'HOLDFAST_RETENTION_DAYS', 30, 1, 36500) },
    logLevel: env.HOLDFAST_LOG_LEVEL ?? 'info',
  };
}
