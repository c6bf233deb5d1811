/**
 * The preflight's composition: the worker's configuration (its identities, collector, bucket, Temporal
 * namespace, playbooks) turned into the checks' dependencies (adapters/preflight/). It is the `preflight`
 * activity's port (activities/preflight.ts), so the checks run on the worker that serves the cluster, as
 * its own identities; `holdfast preflight` and GET /v1/preflight start preflightWorkflow through Temporal.
 */
import fs from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import * as k8s from '@kubernetes/client-node';
import { Connection } from '@temporalio/client';
import { loadPlaybooks, planFor, defaultPlaybook } from '../activities/playbooks';
import { notifierConfigsFrom } from '../adapters/notifiers/registry';
import { KUBERNETES_UNITS } from '../adapters/kubernetes/registry';
import { PREFLIGHT_CHECKS } from '../adapters/preflight/registry';
import { identityAccess, kubeProbe } from '../adapters/preflight/probe-kube';
import { s3BucketProbe, temporalProbe } from '../adapters/preflight/probe-stores';
import {
  SHARED_WITH_PROBE,
  type EnabledStep,
  type PreflightDeps,
  type TemporalProbe,
} from '../adapters/preflight/types';
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
  /** Kubeconfig that creates the throwaway objects; default KUBECONFIG, or the pod's own service account. */
  operatorKubeconfig?: string;
  maxSkewMs?: number;
  checkTimeoutMs?: number;
  /** Tests inject their S3 client (the real server's); default: one from config.s3. */
  s3?: S3Client;
  /** The activity's cancellation: aborts the running check; the throwaway objects are still removed. */
  signal?: AbortSignal;
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

/** Where a pod's own service account token is mounted (deploy/worker.yaml mounts none). */
const POD_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * The credentials that create the throwaway objects: KUBECONFIG, else the pod's own service account. The
 * worker's two identities may not create pods, by design; a deployed worker mounts no token of its own, and
 * then the probes say so instead of failing on a missing file.
 */
function operatorKubeConfig(config: HoldfastConfig, file?: string): k8s.KubeConfig | undefined {
  const kc = new k8s.KubeConfig();
  if (file ?? config.kubernetes.kubeconfig) kc.loadFromFile((file ?? config.kubernetes.kubeconfig)!);
  else if (config.kubernetes.inCluster && fs.existsSync(POD_TOKEN)) kc.loadFromCluster();
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
    const settings = config.kubernetes[identity];
    const kc = kubeConfigFor(config.kubernetes, settings);
    const source = settings.kubeconfig ?? settings.tokenFile ?? config.kubernetes.kubeconfig ?? 'in-cluster';
    kcs[identity] = kc;
    if (kc)
      identities.push(
        identityAccess(identity, kc, source === operatorSource ? `${source} ${SHARED_WITH_PROBE}` : source),
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
            ? 'the worker has no credentials for throwaway objects (KUBECONFIG, or a mounted service account token)'
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
      ...(setup.signal ? { signal: setup.signal } : {}),
    });
    return swept.length > 0 ? { ...report, swept } : report;
  } finally {
    await sweep();
    for (const c of connections) await c.close().catch(() => undefined);
    if (!setup.s3) s3.destroy();
  }
}
