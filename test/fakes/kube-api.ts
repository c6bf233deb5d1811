/**
 * A small in-memory Kubernetes API for the pod, node and NetworkPolicy calls the containment units make,
 * answering the way the API server does where it matters: 404 for what is missing, 409 for a name taken
 * or a stale resourceVersion or UID precondition, 422 for a patch that changes metadata.uid. Units run
 * against it as their Kube (only the clients they use exist).
 */
import type * as k8s from '@kubernetes/client-node';
import type { Kube } from '../../adapters/kubernetes/kube';

type Obj = { metadata?: k8s.V1ObjectMeta };

export class ApiError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiException';
  }
  get body(): string {
    return JSON.stringify({ message: this.message });
  }
}

/** A JSON merge patch (RFC 7386): null deletes a key. */
function merge(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = merge(out[k], v);
  }
  return out;
}

const clone = <T>(x: T): T => structuredClone(x);

export class FakeKubeApi {
  readonly pods = new Map<string, k8s.V1Pod>();
  readonly nodes = new Map<string, k8s.V1Node>();
  readonly policies = new Map<string, k8s.V1NetworkPolicy>();
  /** Every write, in order: `<verb> <kind> <namespace/name>`. */
  readonly writes: string[] = [];
  /** Called before a write is applied (a test can replace the pod there, as a race would). */
  beforeWrite?: (write: string) => void;
  private version = 0;
  private uids = 0;

  private stamp<T extends Obj>(obj: T): T {
    obj.metadata = { ...obj.metadata, resourceVersion: String(++this.version) };
    return obj;
  }

  private write(entry: string): void {
    this.beforeWrite?.(entry);
    this.writes.push(entry);
  }

  addPod(namespace: string, name: string, spec: { node?: string; labels?: Record<string, string> } = {}): k8s.V1Pod {
    const pod: k8s.V1Pod = this.stamp({
      metadata: {
        name,
        namespace,
        uid: `uid-${++this.uids}`,
        labels: { ...spec.labels },
        annotations: {},
        creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, this.uids)),
      },
      spec: { containers: [], nodeName: spec.node ?? 'node-a' },
    });
    this.pods.set(`${namespace}/${name}`, pod);
    this.nodes.set(
      pod.spec!.nodeName!,
      this.nodes.get(pod.spec!.nodeName!) ?? { metadata: { name: pod.spec!.nodeName } },
    );
    return pod;
  }

  /** Deletes the pod and creates another under the same name (a StatefulSet would): a new UID, no annotations. */
  recreatePod(namespace: string, name: string, node?: string): k8s.V1Pod {
    const old = this.pods.get(`${namespace}/${name}`);
    const labels = { ...old?.metadata?.labels };
    for (const key of Object.keys(labels)) if (key.startsWith('holdfast.io/')) delete labels[key];
    return this.addPod(namespace, name, { node: node ?? old?.spec?.nodeName, labels });
  }

  get kube(): Kube {
    const pods = this.pods;
    const policies = this.policies;
    const nodes = this.nodes;
    const core = {
      readNamespacedPod: async ({ name, namespace }: { name: string; namespace: string }) => {
        const pod = pods.get(`${namespace}/${name}`);
        if (!pod) throw new ApiError(404, `pods "${name}" not found`);
        return clone(pod);
      },
      patchNamespacedPod: async ({
        name,
        namespace,
        body,
        dryRun,
      }: {
        name: string;
        namespace: string;
        body: Obj;
        dryRun?: string;
      }) => {
        this.write(`patch pod ${namespace}/${name}`);
        const pod = pods.get(`${namespace}/${name}`);
        if (!pod) throw new ApiError(404, `pods "${name}" not found`);
        if (body.metadata?.uid && body.metadata.uid !== pod.metadata?.uid)
          throw new ApiError(
            422,
            `Pod "${name}" is invalid: metadata.uid: Invalid value: "${body.metadata.uid}": field is immutable`,
          );
        const next = this.stamp(merge(clone(pod), body) as k8s.V1Pod);
        if (!dryRun) pods.set(`${namespace}/${name}`, next);
        return clone(next);
      },
      deleteNamespacedPod: async ({
        name,
        namespace,
        body,
        dryRun,
      }: {
        name: string;
        namespace: string;
        body?: k8s.V1DeleteOptions;
        dryRun?: string;
      }) => {
        this.write(`delete pod ${namespace}/${name}`);
        const pod = pods.get(`${namespace}/${name}`);
        if (!pod) throw new ApiError(404, `pods "${name}" not found`);
        const uid = body?.preconditions?.uid;
        if (uid && uid !== pod.metadata?.uid)
          throw new ApiError(
            409,
            `Operation cannot be fulfilled on Pod "${name}": the UID in the precondition (${uid}) does not match ` +
              `the UID in record (${pod.metadata?.uid}). The object might have been deleted and then recreated`,
          );
        if (!dryRun) pods.delete(`${namespace}/${name}`);
        return clone(pod);
      },
      readNode: async ({ name }: { name: string }) => {
        const node = nodes.get(name);
        if (!node) throw new ApiError(404, `nodes "${name}" not found`);
        return clone(node);
      },
      patchNode: async ({ name, body, dryRun }: { name: string; body: Obj; dryRun?: string }) => {
        this.write(`patch node ${name}`);
        const node = nodes.get(name);
        if (!node) throw new ApiError(404, `nodes "${name}" not found`);
        const next = merge(clone(node), body) as k8s.V1Node;
        if (!dryRun) nodes.set(name, next);
        return clone(next);
      },
    };
    const key = (namespace: string, name: string) => `${namespace}/${name}`;
    const networking = {
      readNamespacedNetworkPolicy: async ({ name, namespace }: { name: string; namespace: string }) => {
        const policy = policies.get(key(namespace, name));
        if (!policy) throw new ApiError(404, `networkpolicies "${name}" not found`);
        return clone(policy);
      },
      createNamespacedNetworkPolicy: async ({
        namespace,
        body,
        dryRun,
      }: {
        namespace: string;
        body: k8s.V1NetworkPolicy;
        dryRun?: string;
      }) => {
        const name = body.metadata!.name!;
        this.write(`create networkpolicy ${namespace}/${name}`);
        if (policies.has(key(namespace, name))) throw new ApiError(409, `networkpolicies "${name}" already exists`);
        const created = this.stamp(clone(body));
        if (!dryRun) policies.set(key(namespace, name), created);
        return clone(created);
      },
      replaceNamespacedNetworkPolicy: async ({
        name,
        namespace,
        body,
        dryRun,
      }: {
        name: string;
        namespace: string;
        body: k8s.V1NetworkPolicy;
        dryRun?: string;
      }) => {
        this.write(`update networkpolicy ${namespace}/${name}`);
        const current = policies.get(key(namespace, name));
        if (!current) throw new ApiError(404, `networkpolicies "${name}" not found`);
        if (body.metadata?.resourceVersion !== current.metadata?.resourceVersion)
          throw new ApiError(409, 'the object has been modified; please apply your changes to the latest version');
        const next = this.stamp(clone(body));
        if (!dryRun) policies.set(key(namespace, name), next);
        return clone(next);
      },
      deleteNamespacedNetworkPolicy: async ({
        name,
        namespace,
        body,
        dryRun,
      }: {
        name: string;
        namespace: string;
        body?: k8s.V1DeleteOptions;
        dryRun?: string;
      }) => {
        this.write(`delete networkpolicy ${namespace}/${name}`);
        const current = policies.get(key(namespace, name));
        if (!current) throw new ApiError(404, `networkpolicies "${name}" not found`);
        const rv = body?.preconditions?.resourceVersion;
        if (rv && rv !== current.metadata?.resourceVersion)
          throw new ApiError(409, 'Precondition failed: ResourceVersion in precondition');
        if (!dryRun) policies.delete(key(namespace, name));
        return {};
      },
    };
    return { core, networking } as unknown as Kube;
  }
}
