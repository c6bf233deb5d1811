import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadCliConfig, loadConfig, silenceAwsSdkNodeWarning, type Env } from '../../common/config';
import { DEFAULT_COLLECTOR } from '../../adapters/kubernetes/collector/settings';
import { scriptSettings } from '../../scripts/settings';
import { collectorConfig } from '../../worker/adapters';

const repoRoot = path.resolve(__dirname, '..', '..', '..');

/** The variable names a loader looks up, recorded through an environment that has none of them set. */
function variablesRead(load: (env: Env) => unknown): Set<string> {
  const read = new Set<string>();
  const env = new Proxy({} as Env, {
    get(target, key) {
      if (typeof key === 'string') read.add(key);
      return Reflect.get(target, key);
    },
    has(target, key) {
      if (typeof key === 'string') read.add(key);
      return Reflect.has(target, key);
    },
  });
  load(env);
  return read;
}

/** The variables named in the first column of each table of README's "Configuration" section, table by table. */
function readmeTables(): Array<Set<string>> {
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Configuration\n');
  assert.ok(start >= 0, 'README has a "Configuration" section');
  const end = readme.indexOf('\n## ', start + 1);
  const tables: Array<Set<string>> = [];
  let current: Set<string> | undefined;
  for (const line of readme.slice(start, end < 0 ? undefined : end).split('\n')) {
    if (!line.startsWith('|')) {
      current = undefined;
      continue;
    }
    if (!current) {
      current = new Set();
      tables.push(current);
      continue; // the header row
    }
    const firstCell = line.split('|')[1] ?? '';
    for (const match of firstCell.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) current.add(match[1]!);
  }
  return tables;
}

const sorted = (names: Iterable<string>) => [...names].sort();

describe('README configuration tables', () => {
  test('the first table lists exactly the variables common/config.ts reads (API, worker and CLI)', () => {
    const read = new Set([...variablesRead((env) => loadConfig(env, '/')), ...variablesRead(loadCliConfig)]);
    const [documented] = readmeTables();
    assert.ok(read.size > 30, `loadConfig and loadCliConfig read ${read.size} variables`);
    assert.deepEqual(sorted(documented ?? []), sorted(read));
  });

  test('the second table lists exactly the variables scripts/settings.ts reads, none of them a product setting', () => {
    const read = variablesRead(scriptSettings);
    const tables = readmeTables();
    assert.equal(tables.length, 2, 'one table for the product, one for the scripts');
    assert.deepEqual(sorted(tables[1]!), sorted(read));
    const product = tables[0]!;
    assert.deepEqual(
      [...read].filter((name) => product.has(name)),
      [],
    );
  });
});

describe('loadConfig', () => {
  test('defaults', () => {
    const config = loadConfig({}, '/srv/holdfast');
    assert.equal(config.dataDir, '/srv/holdfast/.holdfast');
    assert.deepEqual(config.api, {
      host: '127.0.0.1',
      port: 8080,
      publicUrl: 'http://127.0.0.1:8080',
      tokens: undefined,
      webhookSecret: undefined,
      metricsToken: undefined,
      rateLimitPerMinute: 300_000,
      defaultCluster: 'default',
      paging: {},
    });
    assert.deepEqual(config.evidence, {
      legalHold: false,
      urlExpirySeconds: 300,
      partSize: 5 * 1024 * 1024,
      queueSize: 2,
    });
    assert.deepEqual(config.kubernetes, {
      inCluster: false,
      kubeconfig: undefined,
      capture: { kubeconfig: undefined, tokenFile: undefined },
      containment: { kubeconfig: undefined, tokenFile: undefined },
      collector: {},
    });
    assert.equal(config.notifiers.file, undefined);
    assert.equal(config.notifiers.inline, undefined);
    assert.equal(config.playbooks.file, undefined);
    assert.equal(config.worker.metricsPort, 9464);
    assert.deepEqual(config.logging, { level: 'info', format: 'auto' });
  });

  test('API slice: public URL without trailing slashes, from host and port when unset; empty secrets are unset', () => {
    assert.equal(
      loadConfig({ HOLDFAST_PUBLIC_URL: 'https://holdfast.example.com//' }).api.publicUrl,
      'https://holdfast.example.com',
    );
    assert.equal(
      loadConfig({ HOLDFAST_API_HOST: '0.0.0.0', HOLDFAST_API_PORT: '9000' }).api.publicUrl,
      'http://0.0.0.0:9000',
    );
    const api = loadConfig({
      HOLDFAST_TOKENS: 'intake=x',
      HOLDFAST_WEBHOOK_SECRET: '',
      HOLDFAST_CLUSTER_NAME: 'prod',
    }).api;
    assert.equal(api.tokens, 'intake=x');
    assert.equal(api.webhookSecret, undefined);
    assert.equal(api.defaultCluster, 'prod');
  });

  test('intake security: webhook secret of at least 32 bytes, metrics token, rate limit, TLS files as a pair', () => {
    const secret = 'a'.repeat(32);
    assert.equal(loadConfig({ HOLDFAST_WEBHOOK_SECRET: secret }).api.webhookSecret, secret);
    for (const short of ['a'.repeat(31), 'webhook-secret-for-tests'])
      assert.throws(
        () => loadConfig({ HOLDFAST_WEBHOOK_SECRET: short }),
        (err: Error) =>
          err instanceof ConfigError &&
          err.message.startsWith('HOLDFAST_WEBHOOK_SECRET must be at least 32 bytes') &&
          !err.message.includes(short),
      );
    // Bytes, not characters: 16 two-byte characters are 32 bytes.
    assert.equal(loadConfig({ HOLDFAST_WEBHOOK_SECRET: 'é'.repeat(16) }).api.webhookSecret, 'é'.repeat(16));
    assert.equal(
      loadConfig({ HOLDFAST_METRICS_TOKEN: ' metrics-token-0123456 ' }).api.metricsToken,
      'metrics-token-0123456',
    );
    assert.throws(() => loadConfig({ HOLDFAST_METRICS_TOKEN: 'short' }), /HOLDFAST_METRICS_TOKEN must be at least 16/);
    assert.equal(loadConfig({ HOLDFAST_RATE_LIMIT_PER_MINUTE: '0' }).api.rateLimitPerMinute, 0);
    assert.throws(() => loadConfig({ HOLDFAST_RATE_LIMIT_PER_MINUTE: '-1' }), ConfigError);
    const tls = loadConfig({ HOLDFAST_TLS_CERT: 'tls/cert.pem', HOLDFAST_TLS_KEY: '/etc/tls/key.pem' }, '/srv').api;
    assert.deepEqual(tls.tls, { certFile: '/srv/tls/cert.pem', keyFile: '/etc/tls/key.pem' });
    assert.equal(tls.publicUrl, 'https://127.0.0.1:8080', 'the default public URL follows the scheme');
    for (const half of [{ HOLDFAST_TLS_CERT: 'c.pem' }, { HOLDFAST_TLS_KEY: 'k.pem' }])
      assert.throws(() => loadConfig(half), /HOLDFAST_TLS_CERT and HOLDFAST_TLS_KEY must be set together/);
  });

  test('evidence slice: legal hold words, sizes, and the same messages as before for out-of-range values', () => {
    const evidence = loadConfig({
      HOLDFAST_LEGAL_HOLD: 'Yes',
      HOLDFAST_EVIDENCE_URL_SECONDS: '600',
      HOLDFAST_EVIDENCE_PART_MIB: '16',
      HOLDFAST_EVIDENCE_QUEUE: ' ',
    }).evidence;
    assert.deepEqual(evidence, { legalHold: true, urlExpirySeconds: 600, partSize: 16 * 1024 * 1024, queueSize: 2 });
    assert.equal(loadConfig({ HOLDFAST_LEGAL_HOLD: 'enabled' }).evidence.legalHold, false);
    assert.throws(
      () => loadConfig({ HOLDFAST_EVIDENCE_QUEUE: '9' }),
      (err: Error) =>
        err instanceof ConfigError &&
        err.message === 'HOLDFAST_EVIDENCE_QUEUE must be an integer between 1 and 8, got "9"',
    );
    assert.throws(
      () => loadConfig({ HOLDFAST_EVIDENCE_URL_SECONDS: '901' }),
      /HOLDFAST_EVIDENCE_URL_SECONDS must be an integer between 1 and 900/,
    );
    assert.throws(
      () => loadConfig({ HOLDFAST_EVIDENCE_PART_MIB: '4' }),
      /HOLDFAST_EVIDENCE_PART_MIB must be an integer between 5 and 64, got "4"/,
    );
    assert.throws(
      () => loadConfig({ HOLDFAST_EVIDENCE_PART_MIB: 'x'.repeat(100) }),
      (err: Error) => err.message.endsWith(`got "${'x'.repeat(40)}"`),
    );
  });

  test('Temporal UI base URL: unset by default, trailing slashes dropped, only http(s) without query accepted', () => {
    assert.equal(loadConfig({}).temporal.uiUrl, undefined);
    assert.equal(loadConfig({ HOLDFAST_TEMPORAL_UI_URL: '  ' }).temporal.uiUrl, undefined);
    assert.equal(
      loadConfig({ HOLDFAST_TEMPORAL_UI_URL: 'https://temporal.example.com/ui//' }).temporal.uiUrl,
      'https://temporal.example.com/ui',
    );
    for (const bad of ['javascript:alert(1)', 'temporal.example.com', 'http://ui.example/?x=1', 'ftp://ui.example'])
      assert.throws(
        () => loadConfig({ HOLDFAST_TEMPORAL_UI_URL: bad }),
        (err: Error) => err instanceof ConfigError && err.message.startsWith('HOLDFAST_TEMPORAL_UI_URL must be'),
        bad,
      );
  });

  test('the signing key file resolves against the working directory', () => {
    assert.equal(
      loadConfig({ HOLDFAST_SIGNING_KEY_FILE: ' keys/signing.pem ' }, '/srv').evidence.signingKeyFile,
      '/srv/keys/signing.pem',
    );
    assert.equal(loadConfig({ HOLDFAST_SIGNING_KEY_FILE: '  ' }, '/srv').evidence.signingKeyFile, undefined);
  });

  test('scope: the served clusters and their task queues, protected namespaces, incident creation limits', () => {
    const single = loadConfig({ HOLDFAST_TASK_QUEUE: 'q' }).scope;
    assert.equal(single.cluster, 'default');
    assert.deepEqual([...single.clusters], [['default', 'q']]);
    assert.deepEqual(single.protectedNamespaces, ['kube-system', 'kube-public', 'kube-node-lease', 'holdfast']);
    assert.deepEqual(single.incidentLimits, { perSourcePerMinute: 60, perNamespacePerMinute: 20, perRequest: 50 });

    const several = loadConfig({
      HOLDFAST_CLUSTERS: 'prod-eu=holdfast-prod-eu, staging',
      HOLDFAST_TASK_QUEUE: 'holdfast',
      HOLDFAST_PROTECTED_NAMESPACES: 'kube-system, payments',
      HOLDFAST_INCIDENTS_PER_SOURCE_PER_MINUTE: '5',
      HOLDFAST_INCIDENTS_PER_NAMESPACE_PER_MINUTE: '2',
      HOLDFAST_INCIDENTS_PER_REQUEST: '3',
    });
    assert.equal(several.scope.cluster, 'prod-eu', 'the first listed, when HOLDFAST_CLUSTER_NAME is unset');
    assert.equal(several.api.defaultCluster, 'prod-eu');
    assert.deepEqual(
      [...several.scope.clusters],
      [
        ['prod-eu', 'holdfast-prod-eu'],
        ['staging', 'holdfast'],
      ],
    );
    assert.deepEqual(several.scope.protectedNamespaces, ['kube-system', 'payments']);
    assert.deepEqual(several.scope.incidentLimits, { perSourcePerMinute: 5, perNamespacePerMinute: 2, perRequest: 3 });
    assert.equal(loadConfig({ HOLDFAST_CLUSTERS: 'a,b', HOLDFAST_CLUSTER_NAME: 'b' }).scope.cluster, 'b');

    assert.throws(
      () => loadConfig({ HOLDFAST_CLUSTERS: 'a', HOLDFAST_CLUSTER_NAME: 'b' }),
      /HOLDFAST_CLUSTER_NAME "b" is not one of HOLDFAST_CLUSTERS/,
    );
    assert.throws(() => loadConfig({ HOLDFAST_CLUSTERS: 'bad/name' }), /HOLDFAST_CLUSTERS: "bad\/name"/);
    assert.throws(() => loadConfig({ HOLDFAST_CLUSTERS: 'a=queue with spaces' }), /task queue of "a"/);
    assert.throws(() => loadConfig({ HOLDFAST_PROTECTED_NAMESPACES: 'kube-system,../etc' }), /PROTECTED_NAMESPACES/);
    assert.throws(() => loadConfig({ HOLDFAST_INCIDENTS_PER_REQUEST: '0' }), /between 1 and 10000/);
  });

  test('the older settings keep their messages', () => {
    assert.throws(
      () => loadConfig({ HOLDFAST_API_PORT: '70000' }),
      /^ConfigError: HOLDFAST_API_PORT must be an integer between 0 and 65535, got "70000"$/,
    );
    assert.throws(
      () => loadConfig({ HOLDFAST_RETENTION_MODE: 'legal' }),
      /HOLDFAST_RETENTION_MODE must be GOVERNANCE or COMPLIANCE, got "LEGAL"/,
    );
    assert.throws(() => loadConfig({ S3_BUCKET: 'Bad_Bucket' }), /S3_BUCKET "Bad_Bucket" is not a valid bucket name/);
  });

  test('kubernetes slice: identities, in-cluster detection, collector overrides (an unknown pull policy keeps the default)', () => {
    const kubernetes = loadConfig({
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
      KUBECONFIG: '/etc/kube/config',
      HOLDFAST_CAPTURE_KUBECONFIG: '/etc/holdfast/capture.kubeconfig',
      HOLDFAST_CONTAINMENT_TOKEN_FILE: '/var/run/secrets/containment/token',
      HOLDFAST_COLLECTOR_IMAGE: 'registry.example.com/holdfast/collector@sha256:abc',
      HOLDFAST_COLLECTOR_PULL_POLICY: 'Never',
    }).kubernetes;
    assert.equal(kubernetes.inCluster, true);
    assert.equal(kubernetes.kubeconfig, '/etc/kube/config');
    assert.deepEqual(kubernetes.capture, { kubeconfig: '/etc/holdfast/capture.kubeconfig', tokenFile: undefined });
    assert.deepEqual(kubernetes.containment, {
      kubeconfig: undefined,
      tokenFile: '/var/run/secrets/containment/token',
    });
    assert.deepEqual(kubernetes.collector, {
      image: 'registry.example.com/holdfast/collector@sha256:abc',
      imagePullPolicy: 'Never',
    });
    assert.deepEqual(
      loadConfig({ HOLDFAST_COLLECTOR_PULL_POLICY: 'Sometimes', HOLDFAST_COLLECTOR_IMAGE: '' }).kubernetes.collector,
      {},
    );
  });

  test('the worker hands the collector the adapter defaults with the configured overrides', () => {
    assert.deepEqual(collectorConfig({}), DEFAULT_COLLECTOR);
    assert.deepEqual(collectorConfig({ image: 'img:1', imagePullPolicy: 'Always' }), {
      ...DEFAULT_COLLECTOR,
      image: 'img:1',
      imagePullPolicy: 'Always',
    });
  });

  test('notifiers slice: file or inline text, and secrets looked up by name when a notifier is built', () => {
    const env: Env = { HOLDFAST_NOTIFIERS_FILE: ' /etc/holdfast/notifiers.yaml ', HOLDFAST_NOTIFIERS: '  ' };
    const notifiers = loadConfig(env).notifiers;
    assert.equal(notifiers.file, '/etc/holdfast/notifiers.yaml');
    assert.equal(notifiers.inline, undefined);
    assert.equal(notifiers.secret('PD_KEY'), undefined);
    env.PD_KEY = 'routing-key';
    assert.equal(notifiers.secret('PD_KEY'), 'routing-key');
    assert.ok(
      !JSON.stringify(loadConfig({ ...env, HOLDFAST_NOTIFIERS_FILE: '' })).includes('routing-key'),
      'the environment is not copied into the configuration',
    );
  });

  test('playbooks, worker metrics port and logging', () => {
    const config = loadConfig({
      HOLDFAST_PLAYBOOKS: '/etc/holdfast/playbooks.yaml',
      HOLDFAST_WORKER_METRICS_PORT: '0',
      HOLDFAST_LOG_LEVEL: 'debug',
      HOLDFAST_LOG_FORMAT: 'json',
    });
    assert.equal(config.playbooks.file, '/etc/holdfast/playbooks.yaml');
    assert.equal(config.worker.metricsPort, 0);
    assert.deepEqual(config.logging, { level: 'debug', format: 'json' });
    assert.equal(loadConfig({ HOLDFAST_PLAYBOOKS: '' }).playbooks.file, undefined);
    assert.equal(loadConfig({ HOLDFAST_LOG_FORMAT: 'text' }).logging.format, 'auto');
  });
});

describe('loadCliConfig and the other loaders', () => {
  test('the CLI: API URL and token', () => {
    assert.deepEqual(loadCliConfig({}), { apiUrl: 'http://127.0.0.1:8080', token: undefined });
    assert.deepEqual(loadCliConfig({ HOLDFAST_API_URL: 'https://holdfast.example.com', HOLDFAST_TOKEN: 't' }), {
      apiUrl: 'https://holdfast.example.com',
      token: 't',
    });
  });

  test('the AWS SDK notice is silenced unless the variable is set explicitly', () => {
    const env: Env = {};
    silenceAwsSdkNodeWarning(env);
    assert.equal(env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED, 'true');
    const explicit: Env = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'false' };
    silenceAwsSdkNodeWarning(explicit);
    assert.equal(explicit.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED, 'false');
  });

  test('scripts: cache directory, server binaries and ports', () => {
    assert.equal(scriptSettings({}).cacheDir, path.join(os.homedir(), '.cache', 'holdfast'));
    assert.equal(scriptSettings({ XDG_CACHE_HOME: '/xdg' }).cacheDir, '/xdg/holdfast');
    assert.equal(scriptSettings({ XDG_CACHE_HOME: '/xdg', HOLDFAST_CACHE_DIR: '/cache' }).cacheDir, '/cache');
    const settings = scriptSettings({
      HOLDFAST_TEMPORAL_BIN: '/bin/temporal',
      HOLDFAST_S3_PORT: '7171',
      HOLDFAST_SKIP_CLUSTER: '1',
    });
    assert.deepEqual(settings.serverBins, { temporal: '/bin/temporal', versitygw: undefined, alertmanager: undefined });
    assert.deepEqual(settings.ports, { s3: 7171, temporal: 7233, temporalUi: 8233 });
    assert.equal(settings.skipCluster, true);
    assert.equal(settings.keepTestData, false);
  });
});
