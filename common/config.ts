import path from 'node:path';
import { nameProblem } from './k8s-names';
import { pagingSettings, type PagingSettings } from './paging-config';

/**
 * Every setting the API, the worker and the CLI read, in one place: nothing else in the product reads
 * the environment. Each module receives the slice it needs (`config.evidence`, `config.kubernetes`, …).
 * README's configuration table mirrors the variables read here (test/unit/config.test.ts checks it).
 * Values come from the environment so that the same build runs embedded, under compose, or in a cluster.
 */
export interface HoldfastConfig {
  dataDir: string;
  api: {
    host: string;
    port: number;
    /** Base of links in notifications, without a trailing slash. */
    publicUrl: string;
    /** `responder:alice=<t>,investigator:bob=<t>,…` (or `<role>=<t>`); unset: tokens generated in the data dir. */
    tokens?: string;
    /** HMAC key of signed intake (at least MIN_WEBHOOK_SECRET_BYTES bytes); unset: bearer tokens only. */
    webhookSecret?: string;
    /** When set, `/metrics` needs `Authorization: Bearer <it>`; unset: open. */
    metricsToken?: string;
    /** Requests per client (valid token, else IP) per minute; 0: no limit. */
    rateLimitPerMinute: number;
    /** Serve HTTPS with these PEM files (absolute paths); unset: plain HTTP. */
    tls?: { certFile: string; keyFile: string };
    /** Cluster name for alerts that do not carry one. */
    defaultCluster: string;
    /** Where alerts wait, fsynced, while Temporal cannot take them; unset: answer 503 instead. */
    spool?: { dir: string; maxBytes: number; afterMs: number };
    /** Two-way paging: the vendors whose acknowledgements and approvals the API takes (common/paging-config.ts). */
    paging: PagingSettings;
  };
  temporal: {
    address?: string;
    namespace: string;
    taskQueue: string;
    /** Base URL of the Temporal Web UI, without a trailing slash; unset: incidents carry no UI link. */
    uiUrl?: string;
  };
  s3: {
    endpoint?: string;
    region: string;
    bucket: string;
    forcePathStyle: boolean;
    accessKeyId?: string;
    secretAccessKey?: string;
  };
  retention: { mode: 'GOVERNANCE' | 'COMPLIANCE'; days: number };
  evidence: EvidenceSettings;
  kubernetes: KubernetesSettings;
  notifiers: NotifierSettings;
  playbooks: {
    /** The playbooks YAML; unset: the default playbook. */
    file?: string;
  };
  worker: {
    /** Port of the worker's Prometheus `/metrics`; 0 (or not a number) turns it off. */
    metricsPort: number;
  };
  logging: LoggingSettings;
  scope: ScopeSettings;
}

/**
 * What Holdfast may act on, and how fast incidents may open. A worker serves one cluster on its own task
 * queue (`HOLDFAST_CLUSTER_NAME`, `HOLDFAST_TASK_QUEUE`); the API routes each alert to the queue of the
 * cluster it names and refuses a cluster it does not know (HOLDFAST_CLUSTERS).
 */
export interface ScopeSettings {
  /** The cluster this worker acts on, and the API's cluster for alerts that name none. */
  cluster: string;
  /** Every cluster the API accepts alerts for, with the task queue of the worker that serves it. */
  clusters: ReadonlyMap<string, string>;
  /**
   * Namespaces where containment needs an approval that defaults to reject, memory capture is off unless the
   * playbook turns it on, and preserve only records: a response aimed at kube-system must not take DNS down.
   */
  protectedNamespaces: readonly string[];
  /** Incidents opened per minute per alert source and per namespace, and by one request; the rest go to the storm incident. */
  incidentLimits: IncidentLimits;
}

export interface IncidentLimits {
  perSourcePerMinute: number;
  perNamespacePerMinute: number;
  perRequest: number;
}

/** New incidents per minute per source and per namespace, and per request, unless configured. */
export const DEFAULT_INCIDENT_LIMITS: IncidentLimits = {
  perSourcePerMinute: 60,
  perNamespacePerMinute: 20,
  perRequest: 50,
};

export const DEFAULT_PROTECTED_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease', 'holdfast'] as const;

export interface EvidenceSettings {
  /** Legal hold on every object written. */
  legalHold: boolean;
  /** Default lifetime of presigned artifact URLs, in seconds. */
  urlExpirySeconds: number;
  /** Multipart part size in bytes, and how many parts go up in parallel. */
  partSize: number;
  queueSize: number;
  /** The signing key file when configured (absolute); unset: `<dataDir>/signing-key.pem`. The worker only. */
  signingKeyFile?: string;
  /**
   * The public keys evidence is verified with (PEM, absolute); unset: `<dataDir>/trusted-keys.pem`. The API
   * serves these at /v1/keys; the embedded worker adds its own key to the file when it can write it.
   */
  trustedKeysFile?: string;
  /** The RFC 3161 time-stamping authority for the attestation (HOLDFAST_TSA_URL), and how long sealing waits for it. */
  tsa?: { url: string; timeoutMs: number };
}

/** How to reach Kubernetes as one identity: a kubeconfig file, or (in a cluster) a service account token file. */
export interface KubernetesIdentity {
  kubeconfig?: string;
  tokenFile?: string;
}

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

export interface KubernetesSettings {
  /** Kubernetes set KUBERNETES_SERVICE_HOST: the pod's own service account is usable. */
  inCluster: boolean;
  /** KUBECONFIG: one kubeconfig for both identities. */
  kubeconfig?: string;
  capture: KubernetesIdentity;
  containment: KubernetesIdentity;
  /** Overrides of the collector adapter's defaults (image, pull policy); unset fields keep them. */
  collector: { image?: string; imagePullPolicy?: PullPolicy; allowTag?: boolean };
}

/** Resolves a secret named by a notifier's `*Env` field; undefined when the variable is not set. */
export type SecretLookup = (name: string) => string | undefined;

export interface NotifierSettings {
  /** A YAML/JSON list of notifiers in a file, or inline (setting both is refused when notifiers are built). */
  file?: string;
  inline?: string;
  /** Where `routingKeyEnv`, `urlEnv`, … are looked up: the environment, read when a notifier is built. */
  secret: SecretLookup;
}

export interface LoggingSettings {
  level: string;
  /** `json` always logs JSON; `auto` is pretty on a TTY and JSON otherwise. */
  format: 'json' | 'auto';
}

/** What the `holdfast` CLI reads (command-line options take precedence). */
export interface CliConfig {
  apiUrl: string;
  token?: string;
}

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** The webhook HMAC key's minimum length: as long as the SHA-256 output, so it is never the weak link. */
export const MIN_WEBHOOK_SECRET_BYTES = 32;
/** Requests per client per minute by default: far above any sender's normal rate (a 429 makes Alertmanager drop). */
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 300_000;

/** Multipart defaults and the presign ceiling, shared with the S3 evidence store. */
export const DEFAULT_PART_SIZE = 5 * 1024 * 1024;
export const DEFAULT_QUEUE_SIZE = 2;
/** Presigned URLs never live longer than this. */
export const MAX_PRESIGN_SECONDS = 15 * 60;

function intSetting(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}

/**
 * The evidence settings' integers: blank counts as unset and the echoed value is cut at 40 characters,
 * as they always were (unlike the older settings above, whose messages echo the whole value).
 */
function evidenceInt(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${raw.slice(0, 40)}"`);
  return value;
}

function nonEmpty(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
}

/**
 * An http(s) base URL without trailing slashes, or undefined when unset. Responders click links built on it,
 * so anything else (a `javascript:` URL, a typo without a scheme) is refused at start.
 */
function baseUrl(env: Env, name: string): string | undefined {
  const raw = nonEmpty(env, name);
  if (raw === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash)
    throw new ConfigError(`${name} must be an http(s) URL without query or fragment, got "${raw.slice(0, 100)}"`);
  return raw.replace(/\/+$/, '');
}

/** Unset and empty are the same; the value is kept as given (file paths are not trimmed). */
function setOrUndefined(env: Env, name: string): string | undefined {
  return env[name] || undefined;
}

function evidenceSettings(env: Env, cwd: string): EvidenceSettings {
  const signingKeyFile = nonEmpty(env, 'HOLDFAST_SIGNING_KEY_FILE');
  const trustedKeysFile = nonEmpty(env, 'HOLDFAST_TRUSTED_KEYS_FILE');
  return {
    legalHold: ['1', 'true', 'on', 'yes'].includes((env.HOLDFAST_LEGAL_HOLD ?? '').toLowerCase()),
    urlExpirySeconds: evidenceInt(env, 'HOLDFAST_EVIDENCE_URL_SECONDS', 300, 1, MAX_PRESIGN_SECONDS),
    partSize: evidenceInt(env, 'HOLDFAST_EVIDENCE_PART_MIB', DEFAULT_PART_SIZE / 1024 / 1024, 5, 64) * 1024 * 1024,
    queueSize: evidenceInt(env, 'HOLDFAST_EVIDENCE_QUEUE', DEFAULT_QUEUE_SIZE, 1, 8),
    ...(signingKeyFile ? { signingKeyFile: path.resolve(cwd, signingKeyFile) } : {}),
    ...(trustedKeysFile ? { trustedKeysFile: path.resolve(cwd, trustedKeysFile) } : {}),
    ...tsaSettings(env),
  };
}

/** HOLDFAST_TSA_URL (http or https) and HOLDFAST_TSA_TIMEOUT_SECONDS (1–60, default 10). */
function tsaSettings(env: Env): Pick<EvidenceSettings, 'tsa'> {
  const url = nonEmpty(env, 'HOLDFAST_TSA_URL');
  const timeoutMs = evidenceInt(env, 'HOLDFAST_TSA_TIMEOUT_SECONDS', 10, 1, 60) * 1000;
  if (!url) return {};
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`HOLDFAST_TSA_URL "${url.slice(0, 200)}" is not a URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    throw new ConfigError(`HOLDFAST_TSA_URL must be http(s), not ${parsed.protocol}`);
  return { tsa: { url, timeoutMs } };
}

/**
 * Kubernetes access, as one identity or two (capture and containment, see deploy/rbac.yaml):
 *   HOLDFAST_CAPTURE_KUBECONFIG / HOLDFAST_CONTAINMENT_KUBECONFIG: a kubeconfig file per identity;
 *   HOLDFAST_CAPTURE_TOKEN_FILE / HOLDFAST_CONTAINMENT_TOKEN_FILE: in a cluster, a service account token per identity;
 *   otherwise KUBECONFIG or the pod's own service account for both.
 */
function kubernetesSettings(env: Env): KubernetesSettings {
  const identity = (name: 'CAPTURE' | 'CONTAINMENT'): KubernetesIdentity => ({
    kubeconfig: setOrUndefined(env, `HOLDFAST_${name}_KUBECONFIG`),
    tokenFile: setOrUndefined(env, `HOLDFAST_${name}_TOKEN_FILE`),
  });
  const image = setOrUndefined(env, 'HOLDFAST_COLLECTOR_IMAGE');
  const policy = env.HOLDFAST_COLLECTOR_PULL_POLICY;
  // An unknown pull policy falls back to the default, as it always did, rather than failing the start.
  const imagePullPolicy = policy === 'Always' || policy === 'Never' || policy === 'IfNotPresent' ? policy : undefined;
  return {
    inCluster: Boolean(env.KUBERNETES_SERVICE_HOST),
    kubeconfig: setOrUndefined(env, 'KUBECONFIG'),
    capture: identity('CAPTURE'),
    containment: identity('CONTAINMENT'),
    collector: {
      ...(image ? { image } : {}),
      ...(imagePullPolicy ? { imagePullPolicy } : {}),
      // local development only: a tag-only collector image, and no check of the image the kubelet ran
      ...(env.HOLDFAST_COLLECTOR_ALLOW_TAG === '1' ? { allowTag: true } : {}),
    },
  };
}

function notifierSettings(env: Env): NotifierSettings {
  return {
    file: nonEmpty(env, 'HOLDFAST_NOTIFIERS_FILE'),
    inline: nonEmpty(env, 'HOLDFAST_NOTIFIERS'),
    secret: envSecrets(env),
  };
}

/** A SecretLookup over an environment (or any name → value map, e.g. in tests). */
export function envSecrets(env: Env): SecretLookup {
  return (name) => env[name];
}

function webhookSecret(env: Env): string | undefined {
  const secret = setOrUndefined(env, 'HOLDFAST_WEBHOOK_SECRET');
  if (secret !== undefined && Buffer.byteLength(secret) < MIN_WEBHOOK_SECRET_BYTES)
    throw new ConfigError(
      `HOLDFAST_WEBHOOK_SECRET must be at least ${MIN_WEBHOOK_SECRET_BYTES} bytes ` +
        `(e.g. \`openssl rand -hex 32\`), got ${Buffer.byteLength(secret)}`,
    );
  return secret;
}

function metricsToken(env: Env): string | undefined {
  const token = nonEmpty(env, 'HOLDFAST_METRICS_TOKEN');
  if (token !== undefined && token.length < 16)
    throw new ConfigError('HOLDFAST_METRICS_TOKEN must be at least 16 characters');
  return token;
}

/** Both files or neither: half a TLS configuration is a mistake, not a wish for plain HTTP. */
function tlsFiles(env: Env, cwd: string): { certFile: string; keyFile: string } | undefined {
  const cert = nonEmpty(env, 'HOLDFAST_TLS_CERT');
  const key = nonEmpty(env, 'HOLDFAST_TLS_KEY');
  if (!cert && !key) return undefined;
  if (!cert || !key) throw new ConfigError('HOLDFAST_TLS_CERT and HOLDFAST_TLS_KEY must be set together');
  return { certFile: path.resolve(cwd, cert), keyFile: path.resolve(cwd, key) };
}

/** A list of Kubernetes names, comma-separated; each checked, so a typo fails the start rather than matching nothing. */
function nameList(env: Env, name: string, kind: 'cluster' | 'namespace'): string[] | undefined {
  const raw = nonEmpty(env, name);
  if (raw === undefined) return undefined;
  const names = raw
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  for (const n of names) {
    const problem = nameProblem(kind, n);
    if (problem) throw new ConfigError(`${name}: "${n.slice(0, 64)}": ${problem}`);
  }
  return names;
}

/**
 * HOLDFAST_CLUSTERS: `name[=taskQueue],...` (a bare name is served on HOLDFAST_TASK_QUEUE); unset: the one
 * cluster HOLDFAST_CLUSTER_NAME on HOLDFAST_TASK_QUEUE. The worker's own cluster is HOLDFAST_CLUSTER_NAME, else the first listed.
 */
function scopeSettings(env: Env, taskQueue: string): ScopeSettings {
  const clusters = new Map<string, string>();
  for (const entry of (nonEmpty(env, 'HOLDFAST_CLUSTERS') ?? '').split(',')) {
    if (entry.trim() === '') continue;
    const [name = '', queue] = entry.split('=').map((part) => part.trim());
    const problem = nameProblem('cluster', name);
    if (problem) throw new ConfigError(`HOLDFAST_CLUSTERS: "${name.slice(0, 64)}": ${problem}`);
    if (queue !== undefined && !/^[A-Za-z0-9._-]{1,200}$/.test(queue))
      throw new ConfigError(`HOLDFAST_CLUSTERS: the task queue of "${name}" must be 1-200 of A-Z a-z 0-9 . _ -`);
    clusters.set(name, queue ?? taskQueue);
  }
  const named = nonEmpty(env, 'HOLDFAST_CLUSTER_NAME');
  const cluster = named ?? clusters.keys().next().value ?? 'default';
  const problem = nameProblem('cluster', cluster);
  if (problem) throw new ConfigError(`HOLDFAST_CLUSTER_NAME: ${problem}`);
  if (clusters.size === 0) clusters.set(cluster, taskQueue);
  else if (named && !clusters.has(named))
    throw new ConfigError(`HOLDFAST_CLUSTER_NAME "${named}" is not one of HOLDFAST_CLUSTERS`);
  return {
    cluster,
    clusters,
    protectedNamespaces: nameList(env, 'HOLDFAST_PROTECTED_NAMESPACES', 'namespace') ?? [
      ...DEFAULT_PROTECTED_NAMESPACES,
    ],
    incidentLimits: {
      perSourcePerMinute: intSetting(
        env,
        'HOLDFAST_INCIDENTS_PER_SOURCE_PER_MINUTE',
        DEFAULT_INCIDENT_LIMITS.perSourcePerMinute,
        1,
        1_000_000,
      ),
      perNamespacePerMinute: intSetting(
        env,
        'HOLDFAST_INCIDENTS_PER_NAMESPACE_PER_MINUTE',
        DEFAULT_INCIDENT_LIMITS.perNamespacePerMinute,
        1,
        1_000_000,
      ),
      perRequest: intSetting(env, 'HOLDFAST_INCIDENTS_PER_REQUEST', DEFAULT_INCIDENT_LIMITS.perRequest, 1, 10_000),
    },
  };
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
  const host = env.HOLDFAST_API_HOST ?? '127.0.0.1';
  const port = intSetting(env, 'HOLDFAST_API_PORT', 8080, 0, 65535);
  const spoolDir = setOrUndefined(env, 'HOLDFAST_SPOOL_DIR');
  const spoolMaxBytes = intSetting(env, 'HOLDFAST_SPOOL_MAX_MB', 1024, 1, 1024 * 1024) * 1024 * 1024;
  const spoolAfterMs = intSetting(env, 'HOLDFAST_SPOOL_AFTER_MS', 5000, 1, 60_000);
  const tls = tlsFiles(env, cwd);
  const taskQueue = env.HOLDFAST_TASK_QUEUE ?? 'holdfast';
  const scope = scopeSettings(env, taskQueue);
  return {
    dataDir: path.resolve(cwd, env.HOLDFAST_DATA_DIR ?? '.holdfast'),
    api: {
      host,
      port,
      publicUrl: (env.HOLDFAST_PUBLIC_URL ?? `${tls ? 'https' : 'http'}://${host}:${port}`).replace(/\/+$/, ''),
      tokens: env.HOLDFAST_TOKENS,
      webhookSecret: webhookSecret(env),
      metricsToken: metricsToken(env),
      rateLimitPerMinute: intSetting(
        env,
        'HOLDFAST_RATE_LIMIT_PER_MINUTE',
        DEFAULT_RATE_LIMIT_PER_MINUTE,
        0,
        10_000_000,
      ),
      ...(tls ? { tls } : {}),
      defaultCluster: scope.cluster,
      ...(spoolDir
        ? { spool: { dir: path.resolve(cwd, spoolDir), maxBytes: spoolMaxBytes, afterMs: spoolAfterMs } }
        : {}),
      paging: pagingSettings(env),
    },
    temporal: {
      address: nonEmpty(env, 'TEMPORAL_ADDRESS'),
      namespace: env.TEMPORAL_NAMESPACE ?? 'holdfast',
      taskQueue,
      uiUrl: baseUrl(env, 'HOLDFAST_TEMPORAL_UI_URL'),
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
    evidence: evidenceSettings(env, cwd),
    kubernetes: kubernetesSettings(env),
    notifiers: notifierSettings(env),
    playbooks: { file: setOrUndefined(env, 'HOLDFAST_PLAYBOOKS') },
    // Not validated: a value that is not a number turns the endpoint off, as it always has.
    worker: { metricsPort: Number(env.HOLDFAST_WORKER_METRICS_PORT ?? 9464) },
    logging: {
      level: env.HOLDFAST_LOG_LEVEL ?? 'info',
      format: env.HOLDFAST_LOG_FORMAT === 'json' ? 'json' : 'auto',
    },
    scope,
  };
}

/** The CLI's settings; separate from loadConfig so that a server setting the CLI never uses cannot stop it. */
export function loadCliConfig(env: Env = process.env): CliConfig {
  return {
    apiUrl: env.HOLDFAST_API_URL ?? 'http://127.0.0.1:8080',
    token: env.HOLDFAST_TOKEN,
  };
}

/**
 * The AWS SDK warns on every start that its releases after January 2027 need Node 22; package-lock
 * pins versions that run on Node 20. The SDK reads this variable when an S3 client is built, so every
 * entry point that builds one calls this first. An explicit setting (e.g. `false`) wins.
 */
export function silenceAwsSdkNodeWarning(env: Env = process.env): void {
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}
