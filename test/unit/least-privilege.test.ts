/**
 * Issue 12's least privilege without a cluster: the namespaced RBAC generator, the admission policy's shape
 * (its securityContext is the launcher's), the collector pinned by digest (refused at start when not, and
 * each collector's reported imageID checked), and the record scale-to-zero leaves on the pod.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import type { ApplicationFailure } from '@temporalio/common';
import YAML from 'yaml';
import { parseScaledDown } from '../../adapters/kubernetes/actions/scale-to-zero';
import { CollectorLauncher, collectorPrefix, digestOf } from '../../adapters/kubernetes/collector/launcher';
import { collectorPinProblem, DEFAULT_COLLECTOR, pinnedDigest } from '../../adapters/kubernetes/collector/settings';
import { ConfigError, loadConfig } from '../../common/config';
import { FailureType, toActivityFailure } from '../../common/failures';
import { pinAdmissionPolicy } from '../../scripts/admission-policy';
import { namespacedRbac, readManifest, type ManifestObject } from '../../scripts/rbac-namespaced';
import { clusterFromConfig } from '../../worker/adapters';
import { repoRoot } from '../helpers/env';

/** The parts of the admission policy's objects the test reads. */
type Policy = {
  kind: string;
  apiVersion: string;
  metadata: { name: string };
  spec: {
    failurePolicy: string;
    matchConstraints: { resourceRules: Array<{ operations: string[]; resources: string[] }> };
    matchConditions: Array<{ expression: string }>;
    validations: Array<{ expression: string }>;
    variables: Array<{ name: string; expression: string }>;
    paramKind?: unknown;
    policyName: string;
    validationActions: string[];
    paramRef?: unknown;
  };
};
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };
const triples = (rules: Rule[]) =>
  [
    ...new Set(
      rules.flatMap((r) =>
        r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res}:${v}`))),
      ),
    ),
  ].sort();

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const PINNED = `registry.example.com/holdfast/collector@${DIGEST}`;

test('namespaced mode: each ClusterRole becomes a Role + RoleBinding per namespace, nodes stay in a small ClusterRole', () => {
  const cluster = readManifest(path.join(repoRoot, 'deploy', 'rbac.yaml'));
  const out = namespacedRbac(cluster, ['team-a', 'team-b']);
  assert.equal(out.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'ClusterRole').length, 2);
  for (const identity of ['capture', 'containment']) {
    const clusterRole = cluster.find((o) => o.kind === 'ClusterRole' && o.metadata.name === `holdfast-${identity}`)!;
    const nodes = out.find((o) => o.kind === 'ClusterRole' && o.metadata.name === `holdfast-${identity}-nodes`);
    for (const namespace of ['team-a', 'team-b']) {
      const role = out.find(
        (o) => o.kind === 'Role' && o.metadata.name === `holdfast-${identity}` && o.metadata.namespace === namespace,
      )!;
      // together, the Role and the nodes ClusterRole grant exactly what the ClusterRole did
      assert.deepEqual(triples([...role.rules!, ...(nodes?.rules ?? [])]), triples(clusterRole.rules!));
      assert.ok(!triples(role.rules!).some((t) => t.startsWith('/nodes')), 'no cluster-scoped resource in a Role');
      const binding = out.find(
        (o) =>
          o.kind === 'RoleBinding' && o.metadata.name === `holdfast-${identity}` && o.metadata.namespace === namespace,
      )!;
      assert.deepEqual(binding.roleRef, {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'Role',
        name: `holdfast-${identity}`,
      });
      assert.deepEqual(binding.subjects, [
        { kind: 'ServiceAccount', name: `holdfast-${identity}`, namespace: 'holdfast-system' },
      ]);
    }
    if (nodes)
      assert.ok(
        triples(nodes.rules!).every((t) => t.startsWith('/nodes')),
        `${identity}: only nodes`,
      );
  }
  // capture needs nothing cluster-wide (nodes/proxy is the optional checkpoint role); containment cordons
  assert.equal(
    out.some((o) => o.metadata.name === 'holdfast-capture-nodes'),
    false,
  );
  assert.deepEqual(triples(out.find((o) => o.metadata.name === 'holdfast-containment-nodes')!.rules!), [
    '/nodes:get',
    '/nodes:patch',
  ]);
  assert.throws(() => namespacedRbac(cluster, []), /at least one namespace/);
  assert.throws(() => namespacedRbac(cluster, ['Team_A']), /not a namespace name/);
  assert.throws(() => namespacedRbac(cluster, ['a; kubectl delete']), /not a namespace name/);
});

test('admission policy: matches the capture identity, fails closed, pins the collector and its exact securityContext', () => {
  const docs = YAML.parseAllDocuments(
    fs.readFileSync(path.join(repoRoot, 'deploy', 'admission-policy.yaml'), 'utf8'),
  ).map((d) => d.toJSON() as Policy);
  const policy = docs.find((d) => d.kind === 'ValidatingAdmissionPolicy')!;
  const binding = docs.find((d) => d.kind === 'ValidatingAdmissionPolicyBinding')!;
  assert.equal(policy.apiVersion, 'admissionregistration.k8s.io/v1');
  assert.equal(policy.spec.failurePolicy, 'Fail');
  assert.deepEqual(
    policy.spec.matchConstraints.resourceRules.map((r) => [r.operations, r.resources]),
    [
      [['UPDATE'], ['pods/ephemeralcontainers']],
      [['CONNECT'], ['pods/exec', 'pods/attach']],
    ],
  );
  assert.match(policy.spec.matchConditions[0]!.expression, /endsWith\(':holdfast-capture'\)/);
  assert.equal(binding.spec.policyName, policy.metadata.name);
  assert.deepEqual(binding.spec.validationActions, ['Deny']);
  // the pin is in the policy, not a parameter (a deleted policy's parameter cache goes stale on 1.34)
  assert.equal(policy.spec.paramKind, undefined);
  assert.equal(binding.spec.paramRef, undefined);
  assert.equal(docs.length, 2);
  const pinned = (objects: Policy[]) =>
    objects.find((d) => d.kind === 'ValidatingAdmissionPolicy')!.spec.variables.find((v) => v.name === 'pinnedImage')!
      .expression;
  assert.equal(pinned(docs), `'docker.io/holdfast/collector@sha256:${'0'.repeat(64)}'`, 'shipped: refuses every image');
  const mine = pinAdmissionPolicy(docs as unknown as ManifestObject[], PINNED) as unknown as Policy[];
  assert.equal(pinned(mine), `'${PINNED}'`);
  assert.deepEqual(mine[1], docs[1], 'the binding unchanged');
  for (const bad of ['docker.io/holdfast/collector:local', `x@${DIGEST}' || true || '`, ''])
    assert.throws(() => pinAdmissionPolicy(docs as unknown as ManifestObject[], bad), /not a digest reference/);
  // the securityContext the policy demands is the one the launcher sets
  const launcher = fs.readFileSync(path.join(repoRoot, 'adapters', 'kubernetes', 'collector', 'launcher.ts'), 'utf8');
  const capabilities = launcher.match(/const COLLECTOR_CAPABILITIES = (\[[^\]]*\])/)![1]!;
  const all = policy.spec.validations.map((v) => v.expression).join('\n');
  assert.ok(all.includes(`capabilities.add == ${capabilities}`), `${capabilities} in the policy`);
  for (const field of ['runAsUser: 0', 'runAsNonRoot: false', 'privileged: false', 'allowPrivilegeEscalation: false'])
    assert.ok(launcher.includes(field), field);
  for (const check of [
    'privileged == false',
    'allowPrivilegeEscalation == false',
    'runAsUser == 0',
    'runAsNonRoot == false',
    "startsWith('holdfast-collector-')",
    'c.image == variables.pinnedImage',
  ])
    assert.ok(all.includes(check), check);
  assert.ok(collectorPrefix('inc-x').startsWith('holdfast-collector-'));
});

test('collector pin: a digest reference is pinned, a tag is not; a tag is refused at worker start unless allowed', () => {
  assert.equal(pinnedDigest(PINNED), DIGEST);
  for (const unpinned of [
    'docker.io/holdfast/collector:local',
    'docker.io/holdfast/collector',
    `docker.io/holdfast/collector@sha256:${'ab'.repeat(31)}`,
    `docker.io/holdfast/collector@sha512:${'ab'.repeat(64)}`,
    `docker.io/holdfast/collector:local@sha256:${'AB'.repeat(32)}`,
  ])
    assert.equal(pinnedDigest(unpinned), undefined, unpinned);
  assert.equal(pinnedDigest(`docker.io/holdfast/collector:v1@${DIGEST}`), DIGEST, 'tag and digest: the digest wins');
  assert.equal(collectorPinProblem({ image: PINNED }), undefined);
  assert.equal(collectorPinProblem({ image: 'docker.io/holdfast/collector:local', allowTag: true }), undefined);
  assert.match(
    collectorPinProblem({ image: DEFAULT_COLLECTOR.image })!,
    /not pinned by digest.*HOLDFAST_COLLECTOR_ALLOW_TAG=1/,
  );

  const fakeKubeconfig = writeKubeconfig();
  const env = { HOLDFAST_CAPTURE_KUBECONFIG: fakeKubeconfig, HOLDFAST_CONTAINMENT_KUBECONFIG: fakeKubeconfig };
  assert.throws(
    () => clusterFromConfig(loadConfig(env).kubernetes),
    (err: Error) => err instanceof ConfigError && /not pinned by digest/.test(err.message),
  );
  assert.throws(
    () => clusterFromConfig(loadConfig({ ...env, HOLDFAST_COLLECTOR_IMAGE: 'registry.example.com/c:v1' }).kubernetes),
    ConfigError,
  );
  assert.ok(clusterFromConfig(loadConfig({ ...env, HOLDFAST_COLLECTOR_IMAGE: PINNED }).kubernetes));
  assert.ok(clusterFromConfig(loadConfig({ ...env, HOLDFAST_COLLECTOR_ALLOW_TAG: '1' }).kubernetes));
  assert.equal(loadConfig({ HOLDFAST_COLLECTOR_ALLOW_TAG: 'yes' }).kubernetes.collector.allowTag, undefined, 'only 1');
  // without cluster access no collector ever runs: nothing to refuse (steps fail with ClusterUnavailable)
  assert.ok(clusterFromConfig(loadConfig({}).kubernetes));
});

test('collector pin: the worker process refuses to start on a tag, before it connects to anything', () => {
  const kubeconfig = writeKubeconfig();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-pin-data-'));
  const run = (extra: Record<string, string>) =>
    spawnSync(process.execPath, [path.join(repoRoot, 'dist', 'worker', 'main.js')], {
      env: {
        PATH: process.env.PATH,
        HOLDFAST_DATA_DIR: dataDir,
        // nothing listens there: a worker that got past the check would fail on this instead
        TEMPORAL_ADDRESS: '127.0.0.1:1',
        HOLDFAST_CAPTURE_KUBECONFIG: kubeconfig,
        HOLDFAST_CONTAINMENT_KUBECONFIG: kubeconfig,
        HOLDFAST_LOG_FORMAT: 'json',
        ...extra,
      },
      encoding: 'utf8',
      timeout: 60_000,
    });
  const refused = run({ HOLDFAST_COLLECTOR_IMAGE: 'docker.io/holdfast/collector:local' });
  assert.equal(refused.status, 1);
  assert.match(
    refused.stderr,
    /ConfigError: the collector image "docker\.io\/holdfast\/collector:local" is not pinned by digest/,
  );
  assert.deepEqual(fs.readdirSync(dataDir), [], 'refused before it wrote anything (no signing key generated)');
  const allowed = run({
    HOLDFAST_COLLECTOR_IMAGE: 'docker.io/holdfast/collector:local',
    HOLDFAST_COLLECTOR_ALLOW_TAG: '1',
  });
  assert.notEqual(allowed.status, 0);
  assert.doesNotMatch(allowed.stderr, /not pinned by digest/, 'allowed: it went on, to fail on the missing Temporal');
  const pinned = run({ HOLDFAST_COLLECTOR_IMAGE: PINNED });
  assert.doesNotMatch(pinned.stderr, /not pinned by digest/);
});

function writeKubeconfig(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-pin-'));
  const file = path.join(dir, 'kubeconfig');
  fs.writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'c',
      clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
    }),
    { mode: 0o600 },
  );
  return file;
}

/** A pod whose incident collector runs, reporting `imageID`. */
function podRunning(imageID: string | undefined): k8s.V1Pod {
  const name = `${collectorPrefix('inc-1')}-1`;
  return {
    metadata: { name: 'web', namespace: 'shop', resourceVersion: '1' },
    spec: { containers: [{ name: 'app' }], ephemeralContainers: [{ name }] },
    status: {
      containerStatuses: [
        { name: 'app', ready: true, restartCount: 0, image: 'x', imageID: 'x', state: { running: {} } },
      ],
      ephemeralContainerStatuses: [
        { name, ready: false, restartCount: 0, image: 'x', imageID: imageID as string, state: { running: {} } },
      ],
    },
  };
}

const coreReturning = (pod: k8s.V1Pod) =>
  ({
    async readNamespacedPod() {
      return pod;
    },
  }) as unknown as k8s.CoreV1Api;

test('collector pin: a running collector whose reported imageID is not the pinned digest is refused, non-retryable', async () => {
  const target = { cluster: 'c', namespace: 'shop', pod: 'web' };
  const config = { ...DEFAULT_COLLECTOR, image: PINNED };
  const ok = await new CollectorLauncher(
    coreReturning(podRunning(`registry.example.com/holdfast/collector@${DIGEST}`)),
    config,
  ).ensure(target, 'inc-1');
  assert.equal(ok.info.imageDigest, DIGEST);
  assert.ok(await new CollectorLauncher(coreReturning(podRunning(DIGEST)), config).ensure(target, 'inc-1'));

  const other = `sha256:${'cd'.repeat(32)}`;
  for (const imageID of [`docker.io/library/busybox@${other}`, other, undefined, '', `x@${DIGEST}\nextra`]) {
    const err = await new CollectorLauncher(coreReturning(podRunning(imageID)), config).ensure(target, 'inc-1').then(
      () => undefined,
      (e: Error) => e,
    );
    assert.ok(err, `refused: ${JSON.stringify(imageID)}`);
    assert.equal(err.name, FailureType.CollectorUnverified);
    assert.match(err.message, new RegExp(`not the pinned ${DIGEST}: no capture runs in it`));
    assert.ok(!err.message.includes('extra'), 'the node-reported text is not quoted');
    const failure = toActivityFailure(err) as ApplicationFailure;
    assert.equal(failure.nonRetryable, true);
  }
  // a tag explicitly allowed for local development: nothing to compare with
  assert.ok(
    await new CollectorLauncher(coreReturning(podRunning(other)), { ...DEFAULT_COLLECTOR, allowTag: true }).ensure(
      target,
      'inc-1',
    ),
  );
  assert.equal(digestOf(`a@${DIGEST}`), DIGEST);
  assert.equal(digestOf(`${DIGEST}x`), undefined);
  assert.equal(digestOf('x'.repeat(2000) + `@${DIGEST}`), undefined, 'bounded');
});

test('scale-to-zero: the record on the pod is read only when well-formed (anyone who can patch the pod writes it)', () => {
  const good = { incident: 'inc-1', workload: { kind: 'Deployment', name: 'web' }, replicas: 3 };
  assert.deepEqual(parseScaledDown(JSON.stringify(good)), good);
  for (const bad of [
    undefined,
    '',
    'inc-1:3',
    JSON.stringify({ ...good, replicas: 0 }),
    JSON.stringify({ ...good, replicas: 1.5 }),
    JSON.stringify({ ...good, replicas: '3' }),
    JSON.stringify({ ...good, workload: { kind: 'StatefulSet', name: 'web' } }),
    JSON.stringify({ ...good, workload: { kind: 'Deployment', name: '../x' } }),
    JSON.stringify({ ...good, incident: 7 }),
    JSON.stringify({ ...good, pad: 'x'.repeat(2000) }),
  ])
    assert.equal(parseScaledDown(bad), undefined, String(bad));
});
