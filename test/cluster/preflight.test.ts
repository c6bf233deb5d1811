/**
 * `holdfast preflight` on the real local cluster (run under `flock /tmp/holdfast-cluster.lock`), the way it
 * runs in production: the CLI asks the API, the API starts preflightWorkflow on the cluster's task queue, and
 * a real worker (createWorker, on the real Temporal and S3 servers) runs the checks as its own identities.
 * With the capture and containment roles of deploy/rbac.yaml (copied under names of this run, bound to service
 * accounts of this run, so the shared ones are never changed) every check passes, and the checkpoint check
 * skips with the exact reason this machine's containerd 1.6 gives; with one verb taken from the copy and in a
 * namespace enforcing Pod Security `restricted`, the matching checks fail with their fix; a leftover from a
 * crashed run is swept; afterwards no throwaway object remains.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { loadConfig, silenceAwsSdkNodeWarning } from '../../common/config';
import type { CheckResult, PreflightReport } from '../../common/preflight';
import { PREFLIGHT_LABEL } from '../../adapters/preflight/types';
import { createWorker } from '../../worker/main';
import { deployObjects } from '../../scripts/local-env';
import { missingServers, quietTemporalRuntime } from '../helpers/env';
import { preflightCli, startPreflightApi, workerPolls } from '../helpers/preflight';
import {
  kubeClients,
  localClusterOrSkip,
  localCollectorImage,
  MERGE_PATCH,
  serviceAccountKubeConfig,
  waitFor,
} from '../helpers/kube';

const { kubeconfig: KUBECONFIG, skip: SKIP } = localClusterOrSkip();
const RUN = crypto.randomBytes(3).toString('hex');
const OPERATOR = `operator-${crypto.randomBytes(12).toString('hex')}`;
const NS = `holdfast-preflight-${RUN}`;
const RESTRICTED = `holdfast-preflight-restricted-${RUN}`;
const CHECKS = ['rbac', 'collector', 'network-policy', 'checkpoint', 'object-lock', 'clock-skew', 'temporal'];
/** The worker reaches the real S3 and Temporal servers `npm test` starts, and the API starts its workflows. */
const STORE_SETTINGS = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'S3_ENDPOINT',
  'S3_BUCKET',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
];

type Rule = k8s.V1PolicyRule;
const roleRules = (name: string): Rule[] =>
  (deployObjects('rbac.yaml') as Array<{ kind?: string; metadata?: { name?: string }; rules?: Rule[] }>).find(
    (o) => o.kind === 'ClusterRole' && o.metadata?.name === name,
  )!.rules!;

const byName = (report: PreflightReport, name: string): CheckResult => {
  const found = report.results.find((r) => r.name === name);
  assert.ok(found, `${name} in ${JSON.stringify(report.results.map((r) => r.name))}`);
  return found;
};

describe('holdfast preflight on the local cluster', { skip: SKIP ?? missingServers(), timeout: 15 * 60_000 }, () => {
  let admin: ReturnType<typeof kubeClients>;
  let rbac: k8s.RbacAuthorizationV1Api;
  let work = '';
  const name = (identity: string) => `holdfast-preflight-${identity}-${RUN}`;
  const env: Record<string, string> = {};
  let connection: Connection | undefined;
  let api: FastifyInstance | undefined;
  let url = '';
  let stopWorker = async () => {};

  /** `holdfast preflight --json` through the API, Temporal and the worker: the report (its exit code matches). */
  async function preflight(namespace: string, only?: string[]): Promise<PreflightReport> {
    const { code, report, err } = await preflightCli(url, OPERATOR, [
      '--namespace',
      namespace,
      ...(only ? ['--only', only.join(',')] : []),
    ]);
    assert.ok(report, `holdfast preflight printed no report (exit ${code}): ${err}`);
    assert.equal(code, report.verdict === 'ready' ? 0 : 1, err);
    return report;
  }

  async function leftovers(namespace: string): Promise<string[]> {
    const selector = { namespace, labelSelector: PREFLIGHT_LABEL };
    return [
      ...(await admin.core.listNamespacedPod(selector)).items.map((p) => `pod/${p.metadata!.name!}`),
      ...(await admin.net.listNamespacedNetworkPolicy(selector)).items.map((p) => `networkpolicy/${p.metadata!.name!}`),
    ];
  }

  before(async () => {
    silenceAwsSdkNodeWarning();
    admin = kubeClients(KUBECONFIG!);
    rbac = admin.kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-preflight-'));
    await admin.core.createNamespace({ body: { metadata: { name: NS } } });
    await admin.core.createNamespace({
      body: {
        metadata: {
          name: RESTRICTED,
          labels: {
            'pod-security.kubernetes.io/enforce': 'restricted',
            'pod-security.kubernetes.io/enforce-version': 'latest',
          },
        },
      },
    });
    for (const identity of ['capture', 'containment']) {
      await rbac.createClusterRole({
        body: { metadata: { name: name(identity) }, rules: roleRules(`holdfast-${identity}`) },
      });
      await admin.core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: identity } } });
      await rbac.createClusterRoleBinding({
        body: {
          metadata: { name: name(identity) },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: name(identity) },
          subjects: [{ kind: 'ServiceAccount', name: identity, namespace: NS }],
        },
      });
      const file = path.join(work, `${identity}.kubeconfig`);
      fs.writeFileSync(file, (await serviceAccountKubeConfig(admin.kc, NS, identity)).exportConfig(), { mode: 0o600 });
      env[`HOLDFAST_${identity.toUpperCase()}_KUBECONFIG`] = file;
    }
    // Pods are refused until the namespaces' default service accounts exist.
    for (const ns of [NS, RESTRICTED])
      await waitFor(`default service account in ${ns}`, 30_000, () =>
        admin.core.readNamespacedServiceAccount({ name: 'default', namespace: ns }).then(() => true),
      );
    Object.assign(env, {
      KUBECONFIG: KUBECONFIG!,
      HOLDFAST_COLLECTOR_IMAGE: localCollectorImage(),
      HOLDFAST_COLLECTOR_PULL_POLICY: 'Never',
      HOLDFAST_DATA_DIR: work,
    });
    for (const key of STORE_SETTINGS) if (process.env[key]) env[key] = process.env[key]!;
    // The worker of this run's cluster, on its own task queue, with the identities above.
    Object.assign(env, { HOLDFAST_TASK_QUEUE: `preflight-${RUN}`, HOLDFAST_CLUSTER_NAME: `local-${RUN}` });
    const config = loadConfig(env, work);
    quietTemporalRuntime();
    const running = await createWorker(config);
    const done = running.worker.run();
    stopWorker = async () => {
      running.worker.shutdown();
      await done;
      await running.close();
    };
    connection = await Connection.connect({ address: config.temporal.address! });
    const client = new Client({ connection, namespace: config.temporal.namespace });
    await workerPolls(client, config.temporal.namespace, config.temporal.taskQueue);
    ({ url, app: api } = await startPreflightApi({
      client,
      clusters: config.scope.clusters,
      defaultCluster: config.api.defaultCluster,
      address: config.temporal.address!,
      namespace: config.temporal.namespace,
      token: OPERATOR,
    }));
  });

  after(async () => {
    await api?.close();
    await stopWorker();
    await connection?.close();
    if (!admin) return;
    for (const identity of ['capture', 'containment']) {
      await rbac.deleteClusterRoleBinding({ name: name(identity) }).catch(() => undefined);
      await rbac.deleteClusterRole({ name: name(identity) }).catch(() => undefined);
    }
    for (const ns of [NS, RESTRICTED]) await admin.core.deleteNamespace({ name: ns }).catch(() => undefined);
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('with the roles of deploy/rbac.yaml every check passes; checkpoint skips with its exact reason', async () => {
    const report = await preflight(NS);
    const summary = JSON.stringify(report, null, 2);
    assert.deepEqual(
      report.results.map((r) => r.name),
      CHECKS,
    );
    for (const result of report.results.filter((r) => r.name !== 'checkpoint'))
      assert.equal(result.status, 'pass', `${result.name}: ${summary}`);
    assert.match(byName(report, 'clock-skew').detail, /Kubernetes API server [+-]?[0-9.]+ s .*; S3 [+-]?[0-9.]+ s/);
    for (const check of ['rbac', 'collector', 'network-policy']) {
      const result = byName(report, check);
      assert.equal(result.status, 'pass', `${check}: ${summary}`);
      assert.ok(result.neededBy, `the default playbook needs ${check}`);
    }
    assert.match(byName(report, 'rbac').detail, /permissions allowed in namespace .* for capture and containment/);
    // The worker's own identities were asked, not the credentials that create the throwaway objects.
    assert.doesNotMatch(byName(report, 'rbac').detail, /credentials that create the throwaway objects/);
    assert.match(
      byName(report, 'collector').detail,
      /pinned sha256:[0-9a-f]{64}, ran and read a non-root target's \/proc/,
    );
    assert.match(
      byName(report, 'network-policy').detail,
      /reachable before, refused [0-9.]+ s after the deny-all policy/,
    );
    const checkpoint = byName(report, 'checkpoint');
    assert.equal(checkpoint.status, 'skip', summary);
    assert.equal(
      checkpoint.detail,
      'the container runtime does not implement CheckpointContainer (kubelet answered HTTP 500, rpc code Unimplemented); not needed: no enabled playbook sets tryCheckpoint',
    );
    assert.equal(checkpoint.neededBy, undefined);
    assert.equal(report.verdict, 'ready', summary);
    assert.deepEqual(await leftovers(NS), []);
  });

  test('a verb taken from the capture role fails the rbac check with its fix; a crashed run’s leftover is swept', async () => {
    const rules = roleRules('holdfast-capture').map((r) =>
      r.resources?.includes('networkpolicies') ? { ...r, verbs: r.verbs.filter((v) => v !== 'list') } : r,
    );
    await rbac.patchClusterRole(
      { name: name('capture'), body: { rules: rules.filter((r) => r.verbs.length > 0) } },
      MERGE_PATCH,
    );
    try {
      // The authorizer sees the change within a moment.
      const report = await waitFor(
        'the rbac check to fail',
        30_000,
        async () => {
          const r = await preflight(NS, ['rbac']);
          return byName(r, 'rbac').status === 'fail' ? r : undefined;
        },
        1000,
      );
      const rbacResult = byName(report, 'rbac');
      assert.match(
        rbacResult.detail,
        /capture may not list networkpolicies\.networking\.k8s\.io \(needed by network\)/,
      );
      assert.doesNotMatch(rbacResult.detail, /containment may not/);
      assert.match(rbacResult.fix ?? '', /deploy\/rbac\.yaml/);
      assert.equal(report.verdict, 'not-ready');
      // A leftover of a crashed run: labelled, never started (no such image is needed to sweep it).
      await admin.core.createNamespacedPod({
        namespace: NS,
        body: {
          metadata: { name: `holdfast-preflight-leftover-${RUN}`, labels: { [PREFLIGHT_LABEL]: 'crashed' } },
          spec: {
            containers: [
              { name: 'app', image: localCollectorImage(), imagePullPolicy: 'Never', command: ['sleep', '1'] },
            ],
          },
        },
      });
      const again = await preflight(NS, ['rbac']);
      assert.deepEqual(again.swept, [`pod/holdfast-preflight-leftover-${RUN}`]);
    } finally {
      await rbac.patchClusterRole(
        { name: name('capture'), body: { rules: roleRules('holdfast-capture') } },
        MERGE_PATCH,
      );
    }
    await waitFor('leftover gone', 30_000, async () => ((await leftovers(NS)).length === 0 ? true : undefined), 500);
  });

  test('in a namespace enforcing Pod Security restricted the collector check fails with its fix', async () => {
    const report = await preflight(RESTRICTED, ['collector']);
    const collector = byName(report, 'collector');
    assert.equal(collector.status, 'fail', JSON.stringify(report, null, 2));
    assert.match(
      collector.detail,
      new RegExp(`Pod Security admission in namespace ${RESTRICTED} \\(enforce=restricted\\) refuses the collector`),
    );
    assert.match(collector.fix ?? '', /pod-security\.kubernetes\.io\/enforce=privileged/);
    assert.equal(report.verdict, 'not-ready');
    assert.deepEqual(await leftovers(RESTRICTED), []);
  });

  test('no throwaway object remains anywhere', async () => {
    const pods = await admin.core.listPodForAllNamespaces({ labelSelector: PREFLIGHT_LABEL });
    const policies = await admin.net.listNetworkPolicyForAllNamespaces({ labelSelector: PREFLIGHT_LABEL });
    // Deleted with grace 0: gone from the API at once, but allow the API a moment.
    const left = [...pods.items, ...policies.items].filter((o) => !o.metadata?.deletionTimestamp);
    assert.deepEqual(
      left.map((o) => `${o.metadata!.namespace}/${o.metadata!.name}`),
      [],
    );
  });
});
