/**
 * The preflight's composition: the worker's configuration (its identities, collector, bucket, Temporal
 * namespace, playbooks) turned into the checks' dependencies (adapters/preflight/). `holdfast preflight`
 * runs it in-process with the operator's environment; GET /v1/preflight runs it in the API.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import * as k8s from '@kubernetes/client-node';
import { Connection } from '@temporalio/client';
import { loadPlaybooks, planFor, defaultPlaybook } from '../activities/playbooks';
import { notifierConfigsFrom } from '../adapters/notifiers/registry';
import { KUBERNETES_UNITS } from '../adapters/kubernetes/registry';
import { PREFLIGHT_CHECKS } from '../adapters/preflight/registry';
import {
  DEPLOYED_IDENTITIES,
  identityAccess,
  kubeProbe,
  serviceAccountKubeConfig,
} from '../adapters/preflight/probe-kube';
import { s3BucketProbe, temporalProbe } from '../adapters/preflight/probe-stores';
import type { EnabledStep, PreflightDeps, TemporalProbe } from '../adapters/preflight/types';
import { createS3Client } from '../adapters/s3/client';
import type { HoldfastConfig } from '../common/config';
import { runChecks, withTimeout, type PreflightOptions, type PreflightReport } from '../common/preflight';
import type { PlannedStep } from '../common/plan';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes';
import { collectorConfig, kubeConfigFor } from './adapters';

export const PREFLIGHT_DEFAULTS = {
  namespace: 'default',
  /** Date headers have one-second resolution: a threshold under ~2 s would flag noise. */
  maxSkewMs: 5_000,
  /** Per check: a throwaway pod's start (60 s) plus the collector's (60 s) plus the probes. */
  checkTimeoutMs: 180_000,
  temporalConnectMs: 10_000,
} as const;

export interface PreflightSetup {
  /** Operator kubeconfig for the throwaway objects; default KUBECONFIG, or the pod's own service account. */
  operatorKubeconfig?: string;
  maxSkewMs?: number;
  checkTimeoutMs?: number;
  /** Tests inject their S3 client (the real server's); default: one from config.s3. */
  s3?: S3Client;
  /**
   * Act as the deployed identities: the operator mints a 10-minute token for each of these service accounts
   * (default names: deploy/rbac.yaml's) instead of using the configured kubeconfigs, which on an operator's
   * machine are the operator's own.
   */
  serviceAccounts?: { namespace: string; names?: Partial<Record<'capture' | 'containment', string>> };
}

/** The steps the playbooks run (and the default playbook's, which applies when none matches). */
export function enabledSteps(config: HoldfastConfig): EnabledStep[] {
  const playbooks = loadPlaybooks(config.playbooks.file, {
    apiBaseUrl: config.api.publicUrl,
    knownNotifiers: notifierConfigsFrom(config.notifiers).map((n) => n.name),
    protectedNamespaces: config.scope.protectedNamespaces,
  });
  const specs = [...playbooks.specs];
  // A playbook without `match` takes every alert: the default one is then never chosen.
  if (!specs.some((pb) => pb.match === undefined)) specs.push(defaultPlaybook([]));
  const steps = new Map<string, EnabledStep>();
  const add = (step: PlannedStep, playbook: string) => {
    // Same step, other parameters (tryCheckpoint on in one playbook only): kept apart, needs differ.
    const key = `${step.name} ${JSON.stringify(step.params)}`;
    const found = steps.get(key);
    if (found) {
      if (!found.playbooks.includes(playbook)) found.playbooks.push(playbook);
    } else steps.set(key, { name: step.name, params: step.params, playbooks: [playbook] });
  };
  for (const spec of specs) {
    const plan = planFor(spec, config.api.publicUrl);
    for (const step of [...(plan.preserve ? [plan.preserve] : []), ...plan.captures, ...plan.containment])
      add(step, spec.name);
  }
  return [...steps.values()];
}

/** `KEYWORD_LIST` → `KeywordList`, as the Temporal CLI names search attribute types. */
const typeName = (type: string) =>
  type
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');

function operatorKubeConfig(config: HoldfastConfig, file?: string): k8s.KubeConfig | undefined {
  const kc = new k8s.KubeConfig();
  if (file ?? config.kubernetes.kubeconfig) kc.loadFromFile((file ?? config.kubernetes.kubeconfig)!);
  else if (config.kubernetes.inCluster) kc.loadFromCluster();
  else return undefined;
  return kc;
}

/** Temporal, connected on first use (bounded), so a Temporal that is away fails only its own check. */
function lazyTemporal(address: string, namespace: string, connections: Connection[]): TemporalProbe {
  let probe: Promise<TemporalProbe> | undefined;
  const get = () =>
    (probe ??= withTimeout(PREFLIGHT_DEFAULTS.temporalConnectMs, `connecting to Temporal at ${address}`, () =>
      Connection.connect({ address, connectTimeout: PREFLIGHT_DEFAULTS.temporalConnectMs }),
    ).then((connection) => {
      connections.push(connection);
      return temporalProbe(connection, namespace);
    }));
  return {
    namespace,
    describeNamespace: async (signal) => (await get()).describeNamespace(signal),
    searchAttributes: async (signal) => (await get()).searchAttributes(signal),
  };
}

/**
 * Runs every check against what `config` configures. The throwaway objects of an earlier crashed run are
 * swept first, and everything labelled is swept again at the end, whatever happened.
 */
export async function runPreflight(
  config: HoldfastConfig,
  options: PreflightOptions = {},
  setup: PreflightSetup = {},
): Promise<PreflightReport> {
  const namespace = options.namespace ?? PREFLIGHT_DEFAULTS.namespace;
  const identities: PreflightDeps['identities'] = [];
  const kcs: Record<string, k8s.KubeConfig | undefined> = {};
  const operator = operatorKubeConfig(config, setup.operatorKubeconfig);
  const operatorSource = setup.operatorKubeconfig ?? config.kubernetes.kubeconfig ?? 'in-cluster service account';
  for (const identity of ['capture', 'containment'] as const) {
    let kc: k8s.KubeConfig | undefined;
    let source: string;
    if (setup.serviceAccounts) {
      if (!operator) throw new Error('--service-accounts needs an operator kubeconfig (KUBECONFIG or --kubeconfig)');
      const name = setup.serviceAccounts.names?.[identity] ?? DEPLOYED_IDENTITIES[identity];
      source = `service account ${setup.serviceAccounts.namespace}/${name} (token minted by the operator)`;
      kc = await serviceAccountKubeConfig(operator, setup.serviceAccounts.namespace, name);
    } else {
      const settings = config.kubernetes[identity];
      kc = kubeConfigFor(config.kubernetes, settings);
      source = settings.kubeconfig ?? settings.tokenFile ?? config.kubernetes.kubeconfig ?? 'in-cluster';
    }
    kcs[identity] = kc;
    if (kc)
      identities.push(
        identityAccess(identity, kc, source === operatorSource ? `${source} (the operator's own)` : source),
      );
  }
  const collector = collectorConfig(config.kubernetes.collector);
  const probe =
    operator && kcs.capture
      ? kubeProbe({
          operator,
          capture: kcs.capture,
          collector,
          source: operatorSource,
        })
      : undefined;
  const s3 = setup.s3 ?? createS3Client(config.s3);
  const connections: Connection[] = [];
  const deps: PreflightDeps = {
    identities,
    ...(probe
      ? { probe }
      : {
          noProbeReason: !operator
            ? 'no operator kubeconfig (KUBECONFIG, or --kubeconfig)'
            : 'no capture identity configured',
        }),
    bucket: s3BucketProbe(s3, config.s3.bucket),
    ...(config.temporal.address
      ? { temporal: lazyTemporal(config.temporal.address, config.temporal.namespace, connections) }
      : {}),
    namespace,
    collector: { image: collector.image, ...(collector.allowTag ? { allowTag: true } : {}) },
    retention: config.retention,
    enabledSteps: enabledSteps(config),
    units: KUBERNETES_UNITS,
    searchAttributes: Object.fromEntries(Object.values(SEARCH_ATTRIBUTES).map((k) => [k.name, typeName(k.type)])),
    maxSkewMs: setup.maxSkewMs ?? PREFLIGHT_DEFAULTS.maxSkewMs,
    now: Date.now,
  };
  const sweep = async () =>
    probe
      ? withTimeout(30_000, 'removing throwaway objects', (signal) => probe.sweep(namespace, signal)).catch(
          () => [] as string[],
        )
      : [];
  try {
    const swept = await sweep();
    const report = await runChecks(PREFLIGHT_CHECKS, deps, {
      timeoutMs: setup.checkTimeoutMs ?? PREFLIGHT_DEFAULTS.checkTimeoutMs,
      ...(options.only ? { only: options.only } : {}),
    });
    return swept.length > 0 ? { ...report, swept } : report;
  } finally {
    await sweep();
    for (const c of connections) await c.close().catch(() => undefined);
    if (!setup.s3) s3.destroy();
  }
}
