/**
 * Least privilege, proven on the real cluster (issue 12): for each identity of deploy/rbac.yaml a
 * SubjectAccessReview table of what it must and must not be allowed; nodes/proxy only with the optional
 * checkpoint role; the namespaced mode scoped to its namespace; and deploy/admission-policy.yaml refusing the
 * capture identity's real attempts to add anything but Holdfast's pinned collector (a busybox, a privileged
 * one, one with a Secret in its env) or to exec into anything but a collector, while Holdfast's own collector
 * is admitted and works. Then the pin itself: a collector whose reported imageID is not the pinned digest is
 * refused before any capture runs in it.
 *
 * The roles, the policy (pinned to the locally built collector by scripts/admission-policy.ts) and its binding
 * are copied under names of this run (the binding limited to this run's namespace), so other tests keep the
 * originals. The service accounts
 * are named like the real ones (the policy matches `*:holdfast-capture`).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import type { ApplicationFailure } from '@temporalio/common';
import { findStep } from '../../activities/steps/registry';
import type { StepContext } from '../../activities/steps/types';
import { KubernetesCluster } from '../../adapters/kubernetes/cluster';
import { collectorPrefix } from '../../adapters/kubernetes/collector/launcher';
import { SplitCluster } from '../../adapters/kubernetes/split';
import { FailureType, toActivityFailure } from '../../common/failures';
import { pinAdmissionPolicy } from '../../scripts/admission-policy';
import { deployObjects } from '../../scripts/local-env';
import { namespacedRbac, type ManifestObject } from '../../scripts/rbac-namespaced';
import { MemoryEvidenceStore } from '../fakes/evidence-store';
import {
  createReadyNamespace,
  execIn,
  IMAGES,
  kubeClients,
  localClusterOrSkip,
  localCollectorImage,
  serviceAccountKubeConfig,
  sleepingPod,
  waitFor,
} from '../helpers/kube';

const { kubeconfig: KUBECONFIG, skip: SKIP } = localClusterOrSkip();
const RUN = crypto.randomBytes(3).toString('hex');
const NS = `holdfast-adm-${RUN}`;
const RBAC_GROUP = 'rbac.authorization.k8s.io';

type Rule = k8s.V1PolicyRule;
const rulesOf = (file: string, name: string) =>
  (deployObjects(file).find((o) => o.kind === 'ClusterRole' && o.metadata?.name === name) as { rules: Rule[] }).rules;

/** One SubjectAccessReview row: `verb resource[/subresource]` in a namespace ('' = cluster-scoped), allowed or not. */
type Row = [verb: string, group: string, resource: string, namespace: string, allowed: boolean];

const status = (err: unknown) => (err as { code?: number }).code;
const bodyMessage = (err: unknown) => {
  const body = (err as { body?: unknown }).body;
  const parsed = typeof body === 'string' ? (JSON.parse(body) as { message?: string }) : (body as { message?: string });
  return parsed?.message ?? String(err);
};

describe('least privilege on the RBAC- and admission-enabled cluster', { skip: SKIP, timeout: 10 * 60_000 }, () => {
  let admin: ReturnType<typeof kubeClients>;
  let rbac: k8s.RbacAuthorizationV1Api;
  let authz: k8s.AuthorizationV1Api;
  let admission: k8s.AdmissionregistrationV1Api;
  let captureKc: k8s.KubeConfig;
  let captureCore: k8s.CoreV1Api;
  let collectorImage = '';
  const created: Array<() => Promise<unknown>> = [];
  const runName = (name: string) => `${name}-${RUN}`;
  const user = (account: string) => `system:serviceaccount:${NS}:${account}`;

  async function allowed(account: string, [verb, group, resource, namespace]: Row): Promise<boolean> {
    const [res, subresource] = resource.split('/');
    const review = await authz.createSubjectAccessReview({
      body: {
        spec: {
          user: user(account),
          groups: ['system:serviceaccounts', `system:serviceaccounts:${NS}`, 'system:authenticated'],
          resourceAttributes: { verb, group, resource: res, subresource, ...(namespace ? { namespace } : {}) },
        },
      },
    });
    return review.status!.allowed;
  }

  /** Every row as the API server's authorizer answers it; mismatches listed together. */
  async function checkTable(account: string, rows: Row[]) {
    const wrong: string[] = [];
    for (const row of rows) {
      const got = await allowed(account, row);
      if (got !== row[4])
        wrong.push(
          `${row[0]} ${row[1] || 'core'}/${row[2]} in ${row[3] || '(cluster)'}: ${got ? 'allowed' : 'denied'}`,
        );
    }
    assert.deepEqual(wrong, [], `${account}: unexpected answers`);
  }

  async function clusterRole(name: string, rules: Rule[], account: string) {
    await rbac.createClusterRole({ body: { metadata: { name }, rules } });
    created.push(() => rbac.deleteClusterRole({ name }));
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name },
        roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name },
        subjects: [{ kind: 'ServiceAccount', name: account, namespace: NS }],
      },
    });
    created.push(() => rbac.deleteClusterRoleBinding({ name }));
  }

  /** The ephemeral container Holdfast's launcher adds, with `change` applied: what the capture identity asks for. */
  function ephemeral(change: Partial<k8s.V1EphemeralContainer> = {}): k8s.V1EphemeralContainer {
    return {
      name: `${collectorPrefix(`inc-${RUN}`)}-9`,
      image: collectorImage,
      imagePullPolicy: 'Never',
      targetContainerName: 'app',
      command: ['sleep', '600'],
      env: [{ name: 'HOLDFAST_INCIDENT', value: `inc-${RUN}` }],
      securityContext: {
        runAsUser: 0,
        runAsNonRoot: false,
        privileged: false,
        allowPrivilegeEscalation: false,
        capabilities: { add: ['SYS_PTRACE', 'NET_ADMIN'] },
      },
      terminationMessagePolicy: 'File',
      ...change,
    };
  }

  /** The capture identity adds `container` to the victim pod for real; the API server's refusal (or undefined). */
  async function addAsCapture(container: k8s.V1EphemeralContainer, dryRun?: 'All'): Promise<unknown> {
    const pod = await captureCore.readNamespacedPod({ name: 'victim', namespace: NS });
    pod.spec!.ephemeralContainers = [...(pod.spec!.ephemeralContainers ?? []), container];
    return captureCore
      .replaceNamespacedPodEphemeralcontainers({ name: 'victim', namespace: NS, body: pod, dryRun })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
  }

  before(async () => {
    admin = kubeClients(KUBECONFIG!);
    rbac = admin.kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    authz = admin.kc.makeApiClient(k8s.AuthorizationV1Api);
    admission = admin.kc.makeApiClient(k8s.AdmissionregistrationV1Api);
    collectorImage = localCollectorImage();
    await createReadyNamespace(admin.core, { metadata: { name: NS } });
    created.push(() => admin.core.deleteNamespace({ name: NS, gracePeriodSeconds: 0 }));
    for (const account of ['holdfast-capture', 'holdfast-containment', 'scoped-capture', 'scoped-containment'])
      await admin.core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: account } } });
    await clusterRole(runName('holdfast-capture'), rulesOf('rbac.yaml', 'holdfast-capture'), 'holdfast-capture');
    await clusterRole(
      runName('holdfast-containment'),
      rulesOf('rbac.yaml', 'holdfast-containment'),
      'holdfast-containment',
    );
    captureKc = await serviceAccountKubeConfig(admin.kc, NS, 'holdfast-capture');
    captureCore = captureKc.makeApiClient(k8s.CoreV1Api);

    // deploy/admission-policy.yaml as shipped, under this run's names, its binding limited to this namespace
    const policyDocs = pinAdmissionPolicy(deployObjects('admission-policy.yaml') as ManifestObject[], collectorImage);
    const policy = policyDocs.find(
      (d) => d.kind === 'ValidatingAdmissionPolicy',
    ) as unknown as k8s.V1ValidatingAdmissionPolicy;
    const binding = policyDocs.find(
      (d) => d.kind === 'ValidatingAdmissionPolicyBinding',
    ) as unknown as k8s.V1ValidatingAdmissionPolicyBinding;
    const policyName = runName(policy.metadata!.name!);
    await admission.createValidatingAdmissionPolicy({ body: { ...policy, metadata: { name: policyName } } });
    created.push(() => admission.deleteValidatingAdmissionPolicy({ name: policyName }));
    await admission.createValidatingAdmissionPolicyBinding({
      body: {
        ...binding,
        metadata: { name: policyName },
        spec: {
          ...binding.spec,
          policyName,
          matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NS } } },
        },
      },
    });
    created.push(() => admission.deleteValidatingAdmissionPolicyBinding({ name: policyName }));

    await admin.core.createNamespacedPod({ namespace: NS, body: sleepingPod('victim') });
    await waitFor('victim running', 90_000, async () => {
      const pod = await admin.core.readNamespacedPod({ name: 'victim', namespace: NS });
      return pod.status?.containerStatuses?.[0]?.state?.running ? true : undefined;
    });
    // the bindings reach the authorizer and the policy the admission plugin (both asynchronously)
    await waitFor('the capture role in effect', 30_000, () =>
      allowed('holdfast-capture', ['get', '', 'pods', NS, true]),
    );
    await waitFor('the containment role in effect', 30_000, () =>
      allowed('holdfast-containment', ['patch', '', 'pods', NS, true]),
    );
    await waitFor('the admission policy in effect', 60_000, async () => {
      const err = await addAsCapture(ephemeral({ image: IMAGES.busybox }), 'All');
      if (err !== undefined && /holdfast-capture may/.test(bodyMessage(err))) return true;
      // said in the timeout's message
      throw new Error(err === undefined ? 'admitted' : `${status(err)} ${bodyMessage(err)}`);
    });
  });

  after(async () => {
    for (const undo of created.reverse()) await undo().catch(() => undefined);
  });

  test('the admission API: admissionregistration.k8s.io/v1 serves ValidatingAdmissionPolicy (GA since 1.30)', async () => {
    const resources = await admission.getAPIResources();
    assert.equal(resources.groupVersion, 'admissionregistration.k8s.io/v1');
    const names = resources.resources.map((r) => r.name);
    assert.ok(names.includes('validatingadmissionpolicies'), names.join(','));
    assert.ok(names.includes('validatingadmissionpolicybindings'), names.join(','));
    const version = await admin.kc.makeApiClient(k8s.VersionApi).getCode();
    assert.match(version.gitVersion, /^v1\.(3[0-9]|[4-9][0-9])\./);
  });

  test('capture: a SubjectAccessReview table of what it may and may not do', async () => {
    await checkTable('holdfast-capture', [
      ['get', '', 'pods', NS, true],
      ['get', '', 'pods', 'kube-system', true],
      // the control sample: the pods of the suspect's template
      ['list', '', 'pods', NS, true],
      ['list', '', 'events', NS, true],
      ['get', '', 'pods/log', NS, true],
      ['get', 'apps', 'replicasets', NS, true],
      ['update', '', 'pods/ephemeralcontainers', NS, true],
      ['get', '', 'pods/exec', NS, true],
      ['create', '', 'pods/exec', NS, true],
      ['list', 'networking.k8s.io', 'networkpolicies', NS, true],
      ['list', '', 'services', NS, true],
      ['list', 'discovery.k8s.io', 'endpointslices', NS, true],
      // the kubelet API on every node: only with the optional checkpoint role
      ['create', '', 'nodes/proxy', '', false],
      ['get', '', 'nodes/proxy', '', false],
      // it changes nothing
      ['patch', '', 'pods', NS, false],
      ['update', '', 'pods', NS, false],
      ['delete', '', 'pods', NS, false],
      ['create', '', 'pods', NS, false],
      ['patch', '', 'nodes', '', false],
      ['patch', 'apps', 'deployments', 'kube-system', false],
      ['update', 'apps', 'deployments/scale', NS, false],
      ['create', 'networking.k8s.io', 'networkpolicies', NS, false],
      ['create', '', 'pods/attach', NS, false],
      ['create', '', 'pods/portforward', NS, false],
      ['get', '', 'secrets', NS, false],
      ['list', '', 'secrets', 'kube-system', false],
      ['create', '', 'serviceaccounts/token', NS, false],
      ['impersonate', '', 'serviceaccounts', NS, false],
      ['escalate', RBAC_GROUP, 'clusterroles', '', false],
    ]);
  });

  test('containment: a SubjectAccessReview table; workloads only through their scale subresource', async () => {
    await checkTable('holdfast-containment', [
      ['get', '', 'pods', NS, true],
      ['patch', '', 'pods', NS, true],
      ['delete', '', 'pods', NS, true],
      ['get', 'apps', 'replicasets', NS, true],
      ['get', 'apps', 'deployments/scale', NS, true],
      ['update', 'apps', 'deployments/scale', NS, true],
      ['update', 'apps', 'replicasets/scale', NS, true],
      ['get', '', 'nodes', '', true],
      ['patch', '', 'nodes', '', true],
      ['create', 'networking.k8s.io', 'networkpolicies', NS, true],
      ['update', 'networking.k8s.io', 'networkpolicies', NS, true],
      ['delete', 'networking.k8s.io', 'networkpolicies', NS, true],
      // a pod template is code execution in the namespace: never patch or update the workload itself
      ['patch', 'apps', 'deployments', 'kube-system', false],
      ['patch', 'apps', 'deployments', NS, false],
      ['update', 'apps', 'deployments', NS, false],
      ['patch', 'apps', 'replicasets', NS, false],
      ['patch', 'apps', 'statefulsets', NS, false],
      ['patch', 'apps', 'daemonsets', 'kube-system', false],
      ['update', 'apps', 'statefulsets/scale', NS, false],
      // it never runs anything in a pod
      ['create', '', 'pods/exec', NS, false],
      ['get', '', 'pods/exec', NS, false],
      ['update', '', 'pods/ephemeralcontainers', NS, false],
      ['create', '', 'pods', NS, false],
      ['create', '', 'nodes/proxy', '', false],
      ['get', '', 'secrets', NS, false],
      ['delete', '', 'nodes', '', false],
      ['bind', RBAC_GROUP, 'clusterroles', '', false],
    ]);
  });

  test('nodes/proxy is granted only by the optional checkpoint role (deploy/rbac-checkpoint.yaml)', async () => {
    const row: Row = ['create', '', 'nodes/proxy', '', false];
    assert.equal(await allowed('holdfast-capture', row), false, 'not without the checkpoint role');
    const name = runName('holdfast-capture-checkpoint');
    await clusterRole(name, rulesOf('rbac-checkpoint.yaml', 'holdfast-capture-checkpoint'), 'holdfast-capture');
    await waitFor('the checkpoint role in effect', 30_000, () => allowed('holdfast-capture', row));
    await rbac.deleteClusterRoleBinding({ name });
    await waitFor('the checkpoint role withdrawn', 30_000, async () => !(await allowed('holdfast-capture', row)));
  });

  test('namespaced mode: the generated Roles act in their namespace only; nodes through a small ClusterRole', async () => {
    const generated = namespacedRbac(deployObjects('rbac.yaml') as ManifestObject[], [NS]);
    const account = (subjects: unknown) =>
      (subjects as Array<{ name: string }>)[0]!.name.replace('holdfast-', 'scoped-');
    for (const object of generated) {
      const subjects = () => [{ kind: 'ServiceAccount', name: account(object.subjects), namespace: NS }];
      if (object.kind === 'Role') {
        // named apart from nothing: Roles live in this run's namespace, deleted with it
        await rbac.createNamespacedRole({ namespace: NS, body: object as unknown as k8s.V1Role });
      } else if (object.kind === 'RoleBinding') {
        await rbac.createNamespacedRoleBinding({
          namespace: NS,
          body: { ...(object as unknown as k8s.V1RoleBinding), subjects: subjects() },
        });
      } else if (object.kind === 'ClusterRole') {
        const name = runName(object.metadata.name);
        await rbac.createClusterRole({ body: { ...(object as unknown as k8s.V1ClusterRole), metadata: { name } } });
        created.push(() => rbac.deleteClusterRole({ name }));
      } else if (object.kind === 'ClusterRoleBinding') {
        const name = runName(object.metadata.name);
        const binding = object as unknown as k8s.V1ClusterRoleBinding;
        await rbac.createClusterRoleBinding({
          body: { ...binding, metadata: { name }, roleRef: { ...binding.roleRef, name }, subjects: subjects() },
        });
        created.push(() => rbac.deleteClusterRoleBinding({ name }));
      }
    }
    await waitFor('the scoped roles in effect', 30_000, () => allowed('scoped-capture', ['get', '', 'pods', NS, true]));
    await checkTable('scoped-capture', [
      ['get', '', 'pods', NS, true],
      ['create', '', 'pods/exec', NS, true],
      ['update', '', 'pods/ephemeralcontainers', NS, true],
      ['get', '', 'pods', 'kube-system', false],
      ['create', '', 'pods/exec', 'kube-system', false],
      ['update', '', 'pods/ephemeralcontainers', 'default', false],
      ['create', '', 'nodes/proxy', '', false],
    ]);
    await waitFor('the scoped nodes role in effect', 30_000, () =>
      allowed('scoped-containment', ['patch', '', 'nodes', '', true]),
    );
    await checkTable('scoped-containment', [
      ['patch', '', 'pods', NS, true],
      ['update', 'apps', 'deployments/scale', NS, true],
      ['patch', '', 'nodes', '', true],
      ['patch', '', 'pods', 'kube-system', false],
      ['delete', '', 'pods', 'default', false],
      ['update', 'apps', 'deployments/scale', 'kube-system', false],
      ['create', 'networking.k8s.io', 'networkpolicies', 'kube-system', false],
    ]);
  });

  test('admission: the capture identity cannot add a busybox, a privileged or a Secret-reading ephemeral container', async () => {
    const attempts: Array<[string, k8s.V1EphemeralContainer, RegExp]> = [
      ['a busybox (not the pinned image)', ephemeral({ image: IMAGES.busybox }), /only the pinned collector image/],
      [
        'the collector by tag',
        ephemeral({ image: 'docker.io/holdfast/collector:local' }),
        /only the pinned collector image/,
      ],
      [
        'a privileged collector',
        // (privileged with allowPrivilegeEscalation false is invalid anyway: the policy must refuse the valid one)
        ephemeral({
          securityContext: { ...ephemeral().securityContext, privileged: true, allowPrivilegeEscalation: true },
        }),
        /collector securityContext/,
      ],
      [
        'a collector with SYS_ADMIN',
        ephemeral({
          securityContext: {
            ...ephemeral().securityContext,
            capabilities: { add: ['SYS_PTRACE', 'NET_ADMIN', 'SYS_ADMIN'] },
          },
        }),
        /collector securityContext/,
      ],
      [
        'a collector allowed to escalate',
        ephemeral({ securityContext: { ...ephemeral().securityContext, allowPrivilegeEscalation: true } }),
        /collector securityContext/,
      ],
      [
        'a collector reading a Secret through its env',
        ephemeral({ env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'anything', key: 'token' } } }] }),
        /env from Secrets/,
      ],
      ['a container not named holdfast-collector-*', ephemeral({ name: 'debugger' }), /named holdfast-collector-\*/],
    ];
    const before = (await admin.core.readNamespacedPod({ name: 'victim', namespace: NS })).spec?.ephemeralContainers;
    for (const [what, container, reason] of attempts) {
      const err = await addAsCapture(container);
      assert.ok(err, `${what}: refused`);
      assert.equal(status(err), 403, `${what}: ${bodyMessage(err)}`);
      assert.match(bodyMessage(err), /ValidatingAdmissionPolicy/, what);
      assert.match(bodyMessage(err), reason, what);
    }
    const now = (await admin.core.readNamespacedPod({ name: 'victim', namespace: NS })).spec?.ephemeralContainers;
    assert.deepEqual(now, before, 'nothing was added');
  });

  test("admission: Holdfast's own collector is admitted, runs the pinned digest, and the capture identity execs in it", async () => {
    const capture = new KubernetesCluster(captureKc, {
      image: collectorImage,
      imagePullPolicy: 'Never',
      lifetimeSeconds: 600,
      readyTimeoutMs: 90_000,
    });
    const ctx: StepContext = {
      incidentId: `inc-${RUN}`,
      dryRun: false,
      params: {},
      progress: () => {},
      target: { cluster: 'local', namespace: NS, pod: 'victim', container: 'app' },
      deps: { cluster: new SplitCluster(capture, capture), evidence: new MemoryEvidenceStore() },
    };
    // the network capture adds the collector (ephemeralcontainers) and execs in it (pods/exec) as holdfast-capture
    const result = await findStep('network')!.run(ctx);
    assert.ok(result.artifacts.length > 0);
    const pod = await admin.core.readNamespacedPod({ name: 'victim', namespace: NS });
    const collector = pod.status?.ephemeralContainerStatuses?.find((s) =>
      s.name.startsWith(collectorPrefix(`inc-${RUN}`)),
    );
    assert.ok(collector?.state?.running, 'the collector runs');
    // the kubelet reports the digest reference images.sh gave the image: the pin is checkable
    assert.equal(collector.imageID, collectorImage);
    const execed = await execIn(new k8s.Exec(captureKc), NS, 'victim', collector.name, [
      'cat',
      '/etc/holdfast-collector-manifest',
    ]);
    assert.equal(execed.code, 0);
    assert.match(execed.stdout, /trusted tools for Holdfast capture steps/);
  });

  test('admission: the capture identity cannot exec into the workload container (RBAC cannot say which container)', async () => {
    // the container accepts exec (as admin), so the refusal below is the policy's
    const asAdmin = await execIn(admin.exec, NS, 'victim', 'app', ['true']);
    assert.equal(asAdmin.code, 0);
    const refused = await execIn(new k8s.Exec(captureKc), NS, 'victim', 'app', ['true']).then(
      (r) => `exec ran: ${JSON.stringify(r.status)}`,
      (err: unknown) => String((err as Error)?.message ?? err),
    );
    assert.doesNotMatch(refused, /^exec ran/, refused);
    assert.match(refused, /403|Forbidden|holdfast-capture may exec only/, refused);
  });

  test('collector pin: a collector in the pod whose imageID is not the pinned digest is refused before any capture', async () => {
    // someone who may add ephemeral containers (here the admin, outside the policy) plants a look-alike under
    // the name this incident's collector would have
    const incidentId = `inc-impostor-${RUN}`;
    const pod = await admin.core.readNamespacedPod({ name: 'victim', namespace: NS });
    const name = `${collectorPrefix(incidentId)}-1`;
    pod.spec!.ephemeralContainers = [
      ...(pod.spec!.ephemeralContainers ?? []),
      { name, image: IMAGES.busybox, imagePullPolicy: 'Never', targetContainerName: 'app', command: ['sleep', '600'] },
    ];
    await admin.core.replaceNamespacedPodEphemeralcontainers({ name: 'victim', namespace: NS, body: pod });
    const imageID = await waitFor('the impostor running', 60_000, async () => {
      const p = await admin.core.readNamespacedPod({ name: 'victim', namespace: NS });
      const s = p.status?.ephemeralContainerStatuses?.find((c) => c.name === name);
      return s?.state?.running ? s.imageID : undefined;
    });
    assert.notEqual(imageID, collectorImage);
    const capture = new KubernetesCluster(captureKc, {
      image: collectorImage,
      imagePullPolicy: 'Never',
      lifetimeSeconds: 600,
      readyTimeoutMs: 90_000,
    });
    const evidence = new MemoryEvidenceStore();
    const ctx: StepContext = {
      incidentId,
      dryRun: false,
      params: {},
      progress: () => {},
      target: { cluster: 'local', namespace: NS, pod: 'victim', container: 'app' },
      deps: { cluster: new SplitCluster(capture, capture), evidence },
    };
    for (const step of ['filesystem', 'network']) {
      const err = await findStep(step)!
        .run(ctx)
        .then(
          () => undefined,
          (e: Error) => e,
        );
      assert.ok(err, `${step} refused`);
      assert.equal(err.name, FailureType.CollectorUnverified, err.message);
      const pinned = collectorImage.split('@')[1]!;
      assert.match(
        err.message,
        new RegExp(`collector ${name} in ${NS}/victim runs image sha256:[0-9a-f]{64}, not the pinned ${pinned}`),
      );
      const failure = toActivityFailure(err) as ApplicationFailure;
      assert.equal(failure.nonRetryable, true, 'not retried');
    }
    const after = await admin.core.readNamespacedPod({ name: 'victim', namespace: NS });
    assert.deepEqual(
      after.spec?.ephemeralContainers?.filter((c) => c.name.startsWith(collectorPrefix(incidentId))).map((c) => c.name),
      [name],
      'no collector of its own was added beside the impostor either',
    );
  });
});
