import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { STEPS } from '../../activities/steps/registry';
import { identityOf, type KubernetesIdentity } from '../../activities/steps/types';
import { repoRoot } from '../helpers/env';

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };

function triples(rules: Rule[]): string[] {
  const out = new Set<string>();
  for (const r of rules)
    for (const g of r.apiGroups)
      for (const res of r.resources) for (const v of r.verbs) out.add(`${g || 'core'}/${res}:${v}`);
  return [...out].sort();
}

const deployFile = (file: string) =>
  YAML.parseAllDocuments(fs.readFileSync(path.join(repoRoot, 'deploy', file), 'utf8')).map(
    (d) => d.toJSON() as { kind: string; metadata: { name: string }; rules?: Rule[] },
  );
const documents = deployFile('rbac.yaml');
const checkpointDocuments = deployFile('rbac-checkpoint.yaml');
const roleRules = (name: string) =>
  [...documents, ...checkpointDocuments].find((d) => d.kind === 'ClusterRole' && d.metadata.name === name)?.rules ?? [];

/** What the steps declare for an identity: its base role (optional = undefined) or one optional role. */
const declaredFor = (identity: KubernetesIdentity, optional?: string) =>
  triples(
    STEPS.flatMap((step) =>
      step.rbac.filter((rule) => identityOf(step, rule) === identity && rule.optionalRole === optional),
    ),
  );

for (const identity of ['capture', 'containment'] as KubernetesIdentity[]) {
  test(`deploy/rbac.yaml grants holdfast-${identity} exactly what the steps declare for that identity`, () => {
    const declared = declaredFor(identity);
    assert.ok(declared.length > 0);
    assert.deepEqual(triples(roleRules(`holdfast-${identity}`)), declared);
  });
}

test('deploy/rbac-checkpoint.yaml grants exactly what tryCheckpoint declares (nodes/proxy), bound to holdfast-capture only', () => {
  assert.deepEqual(triples(roleRules('holdfast-capture-checkpoint')), declaredFor('capture', 'checkpoint'));
  assert.deepEqual(declaredFor('capture', 'checkpoint'), ['core/nodes/proxy:create']);
  assert.deepEqual(declaredFor('containment', 'checkpoint'), []);
  const binding = checkpointDocuments.find((d) => d.kind === 'ClusterRoleBinding') as unknown as {
    roleRef: { name: string };
    subjects: Array<{ name: string; namespace: string }>;
  };
  assert.equal(binding.roleRef.name, 'holdfast-capture-checkpoint');
  assert.deepEqual(binding.subjects, [
    { kind: 'ServiceAccount', name: 'holdfast-capture', namespace: 'holdfast-system' },
  ]);
});

test('the identities are split: capture cannot change pods, nodes or policies; containment cannot exec or add containers', () => {
  const capture = triples(roleRules('holdfast-capture'));
  const containment = triples(roleRules('holdfast-containment'));
  for (const forbidden of [
    'core/pods:patch',
    'core/nodes:patch',
    'networking.k8s.io/networkpolicies:create',
    'core/pods:delete',
    // only in the optional checkpoint role: the kubelet's /run and /exec on every node
    'core/nodes/proxy:create',
  ])
    assert.ok(!capture.includes(forbidden), forbidden);
  for (const forbidden of [
    'core/pods/exec:create',
    'core/pods/exec:get',
    'core/pods/ephemeralcontainers:update',
    'core/nodes/proxy:create',
    'core/secrets:get',
    // a workload's size only through its scale subresource: patch or update could rewrite its pod template
    'apps/deployments:patch',
    'apps/deployments:update',
    'apps/replicasets:patch',
    'apps/replicasets:update',
    'apps/statefulsets:patch',
  ])
    assert.ok(!containment.includes(forbidden), forbidden);
  // deleting pods and scaling workloads exist only for the approval-gated steps
  const gated = STEPS.filter((s) => s.requiresApproval).flatMap((s) =>
    s.rbac.filter((r) => identityOf(s, r) === 'containment'),
  );
  for (const t of triples(gated).filter((x) => x.endsWith(':delete') || x.includes('deployments/scale:update')))
    assert.ok(containment.includes(t), t);
  const ungated = triples(STEPS.filter((s) => !s.requiresApproval).flatMap((s) => s.rbac));
  assert.ok(!ungated.includes('core/pods:delete'), 'no step without an approval gate deletes pods');
  const wildcard = [...documents, ...checkpointDocuments]
    .flatMap((d) => d.rules ?? [])
    .some((r) => [...r.verbs, ...r.resources, ...r.apiGroups].includes('*'));
  assert.equal(wildcard, false, 'no wildcard in any rule');
});

test('each ClusterRole is bound to its own service account', () => {
  for (const identity of ['capture', 'containment']) {
    const binding = documents.find(
      (d) => d.kind === 'ClusterRoleBinding' && d.metadata.name === `holdfast-${identity}`,
    ) as unknown as { roleRef: { name: string }; subjects: Array<{ name: string }> };
    assert.equal(binding.roleRef.name, `holdfast-${identity}`);
    assert.deepEqual(
      binding.subjects.map((s) => s.name),
      [`holdfast-${identity}`],
    );
  }
});
