/**
 * deploy/rbac.yaml on the real RBAC-enabled cluster: every step runs with exactly the capture and
 * containment roles (copied under names of this run, so other tests keep the originals), and taking
 * one verb away fails the step that needs it with a non-retryable PermissionDenied naming the verb and resource.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import YAML from 'yaml';
import { toActivityFailure } from '../../common/failures';
import { KubernetesCluster } from '../../adapters/kubernetes/cluster';
import { SplitCluster } from '../../adapters/kubernetes/split';
import { findStep } from '../../activities/steps/registry';
import type { StepResult } from '../../activities/contract';
import type { StepContext } from '../../activities/steps/types';
import { MemoryEvidenceStore } from '../fakes/evidence-store';
import { repoRoot } from '../helpers/env';
import {
  IMAGES,
  kubeClients,
  localCollectorImage,
  MERGE_PATCH,
  serviceAccountKubeConfig,
  waitFor,
} from '../helpers/kube';

const KUBECONFIG = process.env.HOLDFAST_TEST_KUBECONFIG;
const SKIP = KUBECONFIG
  ? false
  : 'HOLDFAST_TEST_KUBECONFIG not set: the local cluster needs root; run npm run cluster:up';
const RUN = crypto.randomBytes(3).toString('hex');
const NS = `holdfast-rbac-${RUN}`;

type Rule = k8s.V1PolicyRule;
const roles = ['rbac.yaml', 'rbac-checkpoint.yaml']
  .flatMap((file) => YAML.parseAllDocuments(fs.readFileSync(path.join(repoRoot, 'deploy', file), 'utf8')))
  .map((d) => d.toJSON() as { kind: string; metadata: { name: string }; rules?: Rule[] })
  .filter((d) => d.kind === 'ClusterRole');
const roleRules = (name: string) => roles.find((r) => r.metadata.name === name)!.rules!;
/** The identity's role; the capture one with the optional checkpoint role (the memory step below tries it). */
const rulesOf = (identity: string) =>
  identity === 'capture'
    ? [...roleRules('holdfast-capture'), ...roleRules('holdfast-capture-checkpoint')]
    : roleRules(`holdfast-${identity}`);

/** The rules with one verb of one resource taken away. */
function without(rules: Rule[], resource: string, verb: string): Rule[] {
  const out = rules.map((r) =>
    r.resources?.includes(resource) ? { ...r, verbs: r.verbs.filter((v) => v !== verb) } : r,
  );
  assert.ok(
    out.some((r, i) => r.verbs.length !== rules[i]!.verbs.length),
    `${verb} ${resource} is in the role`,
  );
  return out.filter((r) => r.verbs.length > 0);
}

describe('deploy/rbac.yaml on the RBAC-enabled cluster', { skip: SKIP, timeout: 10 * 60_000 }, () => {
  let admin: ReturnType<typeof kubeClients>;
  let rbac: k8s.RbacAuthorizationV1Api;
  let cluster: SplitCluster;
  let work = '';
  let pod = '';
  const evidence = new MemoryEvidenceStore();
  const name = (identity: string) => `holdfast-${identity}-${RUN}`;

  async function setRules(identity: string, rules: Rule[]) {
    await rbac.patchClusterRole({ name: name(identity), body: { rules } }, MERGE_PATCH);
  }

  async function runStep(
    step: string,
    incidentId: string,
    params: Record<string, unknown> = {},
    undo = false,
  ): Promise<StepResult> {
    const definition = findStep(step)!;
    const ctx: StepContext = {
      incidentId,
      dryRun: false,
      params,
      progress: () => {},
      target: { cluster: 'local', namespace: NS, pod, container: 'app' },
      deps: { cluster, evidence },
    };
    return undo ? definition.undo!(ctx) : definition.run(ctx);
  }

  /** Waits for the RBAC change to reach the authorizer, then checks the failure Temporal would see. */
  async function expectDenied(step: string, params: Record<string, unknown>, pattern: RegExp, freshIncident = false) {
    const error = await waitFor(
      `${step} to be refused`,
      30_000,
      async () => {
        try {
          await runStep(step, freshIncident ? `inc-rbac-${crypto.randomBytes(4).toString('hex')}` : 'inc-rbac', params);
          return undefined;
        } catch (err) {
          return err as Error;
        }
      },
      1000,
    );
    assert.equal(error.name, 'PermissionDenied', error.message);
    assert.match(error.message, pattern);
    const failure = toActivityFailure(error) as ApplicationFailure;
    assert.ok(failure instanceof ApplicationFailure);
    assert.equal(failure.nonRetryable, true);
    assert.equal(failure.type, 'PermissionDenied');
  }

  before(async () => {
    admin = kubeClients(KUBECONFIG!);
    rbac = admin.kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-rbac-'));
    await admin.core.createNamespace({ body: { metadata: { name: NS } } });
    const kubeconfigs: Record<string, k8s.KubeConfig> = {};
    for (const identity of ['capture', 'containment']) {
      await rbac.createClusterRole({ body: { metadata: { name: name(identity) }, rules: rulesOf(identity) } });
      await admin.core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: identity } } });
      await rbac.createClusterRoleBinding({
        body: {
          metadata: { name: name(identity) },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: name(identity) },
          subjects: [{ kind: 'ServiceAccount', name: identity, namespace: NS }],
        },
      });
      const kc = await serviceAccountKubeConfig(admin.kc, NS, identity);
      kubeconfigs[identity] = kc;
    }
    const collector = {
      image: localCollectorImage(),
      imagePullPolicy: 'Never' as const,
      lifetimeSeconds: 3600,
      readyTimeoutMs: 90_000,
    };
    cluster = new SplitCluster(
      new KubernetesCluster(kubeconfigs.capture!, collector),
      new KubernetesCluster(kubeconfigs.containment!, collector),
    );
    const created = await admin.apps.createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name: 'victim' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'victim' } },
          template: {
            metadata: { labels: { app: 'victim' } },
            spec: {
              terminationGracePeriodSeconds: 1,
              containers: [
                { name: 'app', image: IMAGES.busybox, imagePullPolicy: 'Never', command: ['sleep', '100000'] },
              ],
            },
          },
        },
      },
    });
    assert.ok(created.metadata?.uid);
    pod = await waitFor('victim running', 90_000, async () => {
      const pods = await admin.core.listNamespacedPod({ namespace: NS, labelSelector: 'app=victim' });
      const running = pods.items.find((p) => p.status?.containerStatuses?.[0]?.state?.running);
      return running?.metadata?.name;
    });
  });

  after(async () => {
    if (!admin) return;
    for (const identity of ['capture', 'containment']) {
      await rbac.deleteClusterRoleBinding({ name: name(identity) }).catch(() => undefined);
      await rbac.deleteClusterRole({ name: name(identity) }).catch(() => undefined);
    }
    const node = (await admin.core.listNode()).items[0]!.metadata!.name!;
    await admin.core
      .patchNode(
        {
          name: node,
          body: { spec: { unschedulable: null }, metadata: { annotations: { 'holdfast.io/cordoned-by': null } } },
        },
        MERGE_PATCH,
      )
      .catch(() => undefined);
    await admin.core.deleteNamespace({ name: NS, gracePeriodSeconds: 0 }).catch(() => undefined);
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('with exactly the two roles, every step succeeds (and cordon and isolate are undone)', async () => {
    const done: string[] = [];
    for (const [step, params] of [
      ['preserve', {}],
      ['filesystem', {}],
      ['memory', { tryCheckpoint: true }],
      ['logs', {}],
      ['network', {}],
      ['isolate', {}],
      ['cordon', {}],
    ] as const) {
      const result = await runStep(step, 'inc-rbac', params);
      assert.ok(result.artifacts.length > 0, `${step} stored evidence`);
      done.push(step);
    }
    assert.equal((await runStep('cordon', 'inc-rbac', {}, true)).changed, true);
    assert.equal((await runStep('isolate', 'inc-rbac', {}, true)).changed, true);
    assert.equal(done.length, 7);

    // scale-to-zero finds the Deployment through the annotation preserve left (the pod is detached by now)
    const replicas = async () =>
      (await admin.apps.readNamespacedDeployment({ name: 'victim', namespace: NS })).spec?.replicas;
    assert.equal((await runStep('scale-to-zero', 'inc-rbac')).changed, true);
    assert.equal(await replicas(), 0);
    assert.equal(
      (await admin.core.readNamespacedPod({ name: pod, namespace: NS })).status?.phase,
      'Running',
      'the detached suspect keeps running',
    );
    assert.equal(
      (await runStep('scale-to-zero', 'inc-other', {}, true)).changed,
      false,
      'another incident does not undo it',
    );
    assert.equal((await runStep('scale-to-zero', 'inc-rbac', {}, true)).changed, true);
    assert.equal(await replicas(), 1);
  });

  // One verb taken away at a time; the step that needs it must fail at once and say what is missing.
  const removals = [
    {
      identity: 'capture',
      resource: 'pods/exec',
      verb: 'get',
      step: 'filesystem',
      expect: /pods\/exec/,
      fresh: false,
      // the exec websocket is an upgraded GET (clusters with AuthorizePodWebsocketUpgradeCreatePermission also check create)
      why: 'the filesystem step cannot exec in its collector',
    },
    {
      identity: 'capture',
      resource: 'pods/ephemeralcontainers',
      verb: 'update',
      step: 'memory',
      expect: /update pods\/ephemeralcontainers/,
      fresh: true,
      why: 'a new incident cannot add its collector',
    },
    {
      identity: 'containment',
      resource: 'networkpolicies',
      verb: 'create',
      step: 'isolate',
      expect: /cannot create resource "networkpolicies"/,
      fresh: true,
      why: 'isolate cannot create its NetworkPolicy',
    },
    {
      identity: 'containment',
      resource: 'nodes',
      verb: 'patch',
      step: 'cordon',
      expect: /cannot patch resource "nodes"/,
      fresh: true,
      why: 'cordon cannot mark the node',
    },
  ];
  for (const r of removals) {
    test(`${r.identity} without ${r.verb} on ${r.resource}: ${r.why}; non-retryable, naming it`, async () => {
      await setRules(r.identity, without(rulesOf(r.identity), r.resource, r.verb));
      try {
        await expectDenied(r.step, {}, r.expect, r.fresh);
      } finally {
        await setRules(r.identity, rulesOf(r.identity));
      }
    });
  }

  test('delete-pod removes the suspect (last: the other tests need it)', async () => {
    assert.equal((await runStep('delete-pod', 'inc-rbac')).changed, true);
    await waitFor('the pod to be gone', 30_000, () =>
      admin.core.readNamespacedPod({ name: pod, namespace: NS }).then(
        () => false,
        (e: unknown) => (e as { code?: number }).code === 404,
      ),
    );
    assert.equal((await runStep('delete-pod', 'inc-rbac')).changed, false, 'idempotent');
  });
});
