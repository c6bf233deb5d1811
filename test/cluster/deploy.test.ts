/**
 * deploy/ on the real local cluster: Holdfast's own image (scripts/cluster/holdfast-image.sh), then every
 * manifest of deploy/ (namespace, RBAC, worker and API Deployments, Services) with this run's settings in
 * place of deploy/site.yaml, on the test's Temporal and S3. The worker and the API become Ready; an alert
 * posted to the in-cluster API about a workload pod ends as a sealed incident whose evidence verifies with
 * the key the worker was given; both /metrics answer on the pod network; then everything is deleted.
 *
 * What differs from a real cluster (scripts/cluster/README.md): the test servers and the API server listen
 * on 127.0.0.1 and there is no kube-proxy or DNS, so the test relays Temporal, S3 and the API server from
 * the pod bridge's address (test/helpers/relay.ts), points the worker's in-cluster access at the relay
 * (KUBERNETES_SERVICE_HOST/PORT and a hostAlias for the name in the API server's certificate), runs one
 * replica of each Deployment (two cores), and reaches the pods by their IPs.
 * Reads HOLDFAST_TEST_KUBECONFIG (and the servers `npm test` starts); skips without them.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import YAML from 'yaml';
import { falcoAlert } from '../../scripts/demo-workload';
import { pinAdmissionPolicy } from '../../scripts/admission-policy';
import { localCollectorImage } from '../../scripts/local-env';
import type { ManifestObject } from '../../scripts/rbac-namespaced';
import { missingServers, repoRoot } from '../helpers/env';
import { execIn, IMAGES, kubeClients, waitFor } from '../helpers/kube';
import { hostPort, startRelay, type Relay } from '../helpers/relay';

const KUBECONFIG = process.env.HOLDFAST_TEST_KUBECONFIG;
const SKIP =
  missingServers() ??
  (KUBECONFIG ? false : 'HOLDFAST_TEST_KUBECONFIG not set: the local cluster needs root; run npm run cluster:up');
const RUN = crypto.randomBytes(3).toString('hex');
const SYSTEM = 'holdfast-system';
const WORKLOADS = `holdfast-deploy-${RUN}`;
/** The name in the API server's certificate that pods are pointed at (hostAliases: the relay). */
const APISERVER_NAME = 'kubernetes.default.svc';
/** deploy/ files that are examples to edit, not objects to apply: this test supplies its own. */
const EXAMPLES = new Set(['site.yaml', 'playbooks.example.yaml']);

type Obj = k8s.KubernetesObject & Record<string, unknown>;
const KIND_ORDER = ['Namespace', 'ServiceAccount', 'ClusterRole', 'Role', 'ClusterRoleBinding', 'RoleBinding'];
const rank = (kind?: string) => (KIND_ORDER.includes(kind ?? '') ? KIND_ORDER.indexOf(kind!) : KIND_ORDER.length);

/** Every object of deploy/*.yaml but the examples, namespaces and identities first. */
function deployObjects(): Obj[] {
  const dir = path.join(repoRoot, 'deploy');
  const docs = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') && !EXAMPLES.has(f))
    .sort()
    .flatMap((f) => YAML.parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8')).map((d) => d.toJSON() as Obj))
    .filter((o) => o && o.kind);
  // The admission policy as shipped pins no collector (it refuses all): pinned to the local one, as npm start's is.
  const pinned = pinAdmissionPolicy(docs as ManifestObject[], localCollectorImage()) as Obj[];
  return pinned.sort((a, b) => rank(a.kind) - rank(b.kind));
}

type PodSpec = k8s.V1PodSpec;
const podSpecOf = (o: Obj) => (o.spec as k8s.V1DeploymentSpec).template.spec as PodSpec;

describe('deploy/ on the local cluster', { skip: SKIP, timeout: 20 * 60_000 }, () => {
  let admin: ReturnType<typeof kubeClients>;
  let objects: k8s.KubernetesObjectApi;
  const relays: Relay[] = [];
  const created: Obj[] = [];
  const timings: Array<[string, number]> = [];
  let work = '';
  let bridge = '';
  let publicKeyPem = '';
  let workerPod: k8s.V1Pod;
  let apiPod: k8s.V1Pod;
  let api = '';
  /** The relay that is the pods' only way to Temporal: paused, Temporal is away for them. */
  let temporalRelay: Relay;
  /** The incident the first alert opened (about the `shop` pod). */
  let shopIncidentId = '';
  const tokens = {
    intake: `hf_intake_${crypto.randomBytes(18).toString('base64url')}`,
    responder: `hf_responder_${crypto.randomBytes(18).toString('base64url')}`,
    investigator: `hf_investigator_${crypto.randomBytes(18).toString('base64url')}`,
  };

  async function timed<T>(what: string, fn: () => Promise<T> | T): Promise<T> {
    const started = Date.now();
    try {
      return await fn();
    } finally {
      timings.push([what, Date.now() - started]);
    }
  }

  /** Creates an object and remembers it for deletion; one that already exists is left as it is, and kept. */
  async function create(o: Obj): Promise<void> {
    try {
      await objects.create(o);
      created.push(o);
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
  }

  async function readyPod(app: string): Promise<k8s.V1Pod> {
    return waitFor(
      `${app} Ready`,
      300_000,
      async () => {
        const pods = await admin.core.listNamespacedPod({
          namespace: SYSTEM,
          labelSelector: `app.kubernetes.io/name=${app}`,
        });
        return pods.items.find(
          (p) =>
            !p.metadata?.deletionTimestamp &&
            p.status?.podIP &&
            p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
      },
      1000,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await podReport(app)}`);
    });
  }

  /** The pods' states and the last log lines of each container, for a failure message. */
  async function podReport(app: string): Promise<string> {
    const pods = await admin.core.listNamespacedPod({
      namespace: SYSTEM,
      labelSelector: `app.kubernetes.io/name=${app}`,
    });
    const lines: string[] = [];
    for (const p of pods.items) {
      const statuses = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])];
      lines.push(
        `${p.metadata?.name}: ${JSON.stringify(
          statuses.map((s) => ({ name: s.name, restarts: s.restartCount, state: s.state, last: s.lastState })),
        )}`,
      );
      for (const s of statuses) {
        // a container that restarted: its previous run's end is what explains it
        const previous = s.restartCount > 0;
        const log = await admin.core
          .readNamespacedPodLog({
            name: p.metadata!.name!,
            namespace: SYSTEM,
            container: s.name,
            tailLines: 200,
            previous,
          })
          .catch((e: Error) => `(no log: ${e.message})`);
        // the probes' requests and their answers say nothing
        const probes = new Set<string>();
        const kept = String(log)
          .split('\n')
          .filter((line) => {
            const id = /"reqId":"([^"]+)"/.exec(line)?.[1];
            if (/"url":"\/(readyz|healthz)"/.test(line) && id) probes.add(id);
            return !(id && probes.has(id));
          });
        lines.push(`--- ${s.name}${previous ? ' (previous run)' : ''}\n${kept.slice(-20).join('\n')}`);
      }
    }
    return lines.join('\n');
  }

  /** A raw HTTP GET from the scraper pod over the pod network (busybox wget segfaults here). */
  async function getFromPodNetwork(ip: string, port: number, urlPath: string): Promise<string> {
    const r = await execIn(
      admin.exec,
      WORKLOADS,
      'scraper',
      'scraper',
      // stdin stays open a while: busybox nc quits when it ends, before a slower server has answered
      ['sh', '-c', `(printf 'GET ${urlPath} HTTP/1.0\\r\\n\\r\\n'; sleep 5) | timeout 10 nc -w 5 ${ip} ${port}`],
      30_000,
    );
    if (r.code !== 0 || !r.stdout.startsWith('HTTP/'))
      assert.fail(
        `GET ${ip}:${port}${urlPath} from the pod network: exit ${r.code} ${r.stderr}\n` +
          `${await podReport('holdfast-worker')}\n${await podReport('holdfast-api')}`,
      );
    return r.stdout;
  }

  /** Runs a Node one-liner in a Holdfast container (the image has no shell) and parses its JSON output. */
  async function nodeIn(pod: k8s.V1Pod, container: string, script: string): Promise<Record<string, unknown>> {
    const r = await execIn(admin.exec, SYSTEM, pod.metadata!.name!, container, ['node', '-e', script], 30_000);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

  before(async () => {
    admin = kubeClients(KUBECONFIG!);
    objects = k8s.KubernetesObjectApi.makeApiClient(admin.kc);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-deploy-'));
    const node = (await admin.core.listNode()).items[0]!;
    bridge = node.status!.addresses!.find((a) => a.type === 'InternalIP')!.address;

    await timed('image build + import', () => {
      const built = spawnSync('bash', [path.join(repoRoot, 'scripts', 'cluster', 'holdfast-image.sh')], {
        encoding: 'utf8',
        timeout: 10 * 60_000,
      });
      assert.equal(built.status, 0, `holdfast-image.sh: ${built.stderr}`);
      process.stderr.write(built.stderr);
    });

    // Temporal, S3 and the API server, reachable from pods at the bridge's address
    const [temporal, s3, apiserver] = await Promise.all([
      startRelay(bridge, hostPort(process.env.TEMPORAL_ADDRESS!)),
      startRelay(bridge, hostPort(process.env.S3_ENDPOINT!)),
      startRelay(bridge, hostPort(admin.kc.getCurrentCluster()!.server)),
    ]);
    relays.push(temporal, s3, apiserver);
    temporalRelay = temporal;

    const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
    publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const site: Record<string, string> = {
      TEMPORAL_ADDRESS: `${bridge}:${temporal.port}`,
      TEMPORAL_NAMESPACE: process.env.TEMPORAL_NAMESPACE ?? 'holdfast',
      HOLDFAST_TASK_QUEUE: `holdfast-deploy-${RUN}`,
      S3_ENDPOINT: `http://${bridge}:${s3.port}`,
      S3_BUCKET: process.env.S3_BUCKET ?? 'holdfast-evidence',
      S3_FORCE_PATH_STYLE: 'true',
      HOLDFAST_CLUSTER_NAME: 'local',
      HOLDFAST_COLLECTOR_IMAGE: localCollectorImage(),
      HOLDFAST_COLLECTOR_PULL_POLICY: 'Never',
      HOLDFAST_LOG_FORMAT: 'json',
      // probes would fill the log tails a failure shows
      HOLDFAST_LOG_LEVEL: 'warn',
    };
    const s3Credentials = {
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID!,
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY!,
    };
    const playbooks = [
      'playbooks:',
      '  - name: deploy-test',
      `    match: { namespaces: ["${WORKLOADS}"] }`,
      '    capture: [logs, filesystem]',
      '    contain: [isolate]',
    ].join('\n');

    const manifests = deployObjects();
    const local = (o: Obj): Obj => {
      if (o.kind !== 'Deployment') return o;
      const spec = o.spec as k8s.V1DeploymentSpec;
      spec.replicas = 1;
      if (o.metadata?.name === 'holdfast-worker') {
        const pod = podSpecOf(o);
        pod.hostAliases = [{ ip: bridge, hostnames: [APISERVER_NAME] }];
        for (const c of [...(pod.initContainers ?? []), ...pod.containers])
          c.env = [
            ...(c.env ?? []),
            { name: 'KUBERNETES_SERVICE_HOST', value: APISERVER_NAME },
            { name: 'KUBERNETES_SERVICE_PORT', value: String(apiserver.port) },
          ];
      }
      return o;
    };
    const secret = (name: string, data: Record<string, string>): Obj => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: SYSTEM },
      stringData: data,
    });
    const configMap = (name: string, data: Record<string, string>): Obj => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace: SYSTEM },
      data,
    });
    const settings = [
      configMap('holdfast-site', site),
      configMap('holdfast-playbooks', { 'playbooks.yaml': playbooks }),
      configMap('holdfast-trusted-keys', { 'trusted-keys.pem': publicKeyPem }),
      secret('holdfast-worker', s3Credentials),
      secret('holdfast-api', {
        ...s3Credentials,
        HOLDFAST_TOKENS: Object.entries(tokens)
          .map(([role, t]) => `${role}=${t}`)
          .join(','),
      }),
      secret('holdfast-signing-key', {
        'manifest-signing.pem': privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      }),
    ];

    await timed('apply deploy/', async () => {
      const deployments = manifests.filter((o) => o.kind === 'Deployment');
      for (const o of manifests.filter((m) => m.kind !== 'Deployment')) await create(o);
      await waitFor('holdfast-system ready for pods', 30_000, async () =>
        admin.core.readNamespacedServiceAccount({ name: 'holdfast-worker', namespace: SYSTEM }).then(() => true),
      );
      for (const o of settings) await create(o);
      for (const o of deployments) await create(local(o));
    });

    // the workload the alert is about, and a pod to scrape metrics from, in a namespace of this run
    await admin.core.createNamespace({
      body: { metadata: { name: WORKLOADS, labels: { 'holdfast.io/test': 'deploy' } } },
    });
    await waitFor('default service account', 30_000, () =>
      admin.core.readNamespacedServiceAccount({ name: 'default', namespace: WORKLOADS }).then(() => true),
    );
    for (const name of ['shop', 'scraper'])
      await admin.core.createNamespacedPod({
        namespace: WORKLOADS,
        body: {
          metadata: { name, labels: { app: name } },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: name === 'shop' ? 'app' : name,
                image: IMAGES.busybox,
                imagePullPolicy: 'Never',
                command: ['sh', '-c', `echo ${name}-started; exec sleep 3600`],
              },
            ],
          },
        },
      });

    [workerPod, apiPod] = await timed('worker and API Ready', () =>
      Promise.all([readyPod('holdfast-worker'), readyPod('holdfast-api')]),
    );
    api = `http://${apiPod.status!.podIP}:8080`;
    for (const name of ['shop', 'scraper'])
      await waitFor(`${name} running`, 90_000, async () => {
        const p = await admin.core.readNamespacedPod({ name, namespace: WORKLOADS });
        return p.status?.phase === 'Running';
      });
  });

  after(async () => {
    if (!admin) return;
    await timed('delete everything', async () => {
      await admin.core.deleteNamespace({ name: WORKLOADS }).catch(() => undefined);
      for (const o of [...created].reverse()) await objects.delete(o, undefined, undefined, 0).catch(() => undefined);
      await waitFor('test namespaces gone', 180_000, async () => {
        const names = (await admin.core.listNamespace()).items.map((n) => n.metadata?.name);
        const ours = [WORKLOADS, ...created.filter((o) => o.kind === 'Namespace').map((o) => o.metadata!.name!)];
        return !ours.some((n) => names.includes(n));
      });
    }).catch((err: Error) => process.stderr.write(`[deploy test] cleanup: ${err.message}\n`));
    await Promise.all(relays.map((r) => r.close()));
    fs.rmSync(work, { recursive: true, force: true });
    process.stderr.write(
      `[deploy test] timings: ${timings.map(([what, ms]) => `${what} ${(ms / 1000).toFixed(1)} s`).join('; ')}\n`,
    );
  });

  test('the worker holds only one-hour tokens of its two identities and a 0600 key', async () => {
    const script = `
      const fs = require('node:fs');
      const claims = (f) => JSON.parse(Buffer.from(fs.readFileSync(f, 'utf8').split('.')[1], 'base64url'));
      const out = {};
      for (const id of ['capture', 'containment']) {
        const f = '/var/run/holdfast/tokens/' + id;
        out[id] = { mode: fs.statSync(f).mode & 0o777, claims: claims(f) };
      }
      out.key = fs.statSync(process.env.HOLDFAST_SIGNING_KEY_FILE).mode & 0o777;
      out.ownToken = fs.existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token');
      console.log(JSON.stringify(out));`;
    type Token = {
      mode: number;
      claims: { sub: string; iat: number; exp: number };
    };
    const seen = (await nodeIn(workerPod, 'worker', script)) as {
      capture: Token;
      containment: Token;
      key: number;
      ownToken: boolean;
    };
    for (const id of ['capture', 'containment'] as const) {
      const { mode, claims } = seen[id];
      assert.equal(mode, 0o600, `${id} token mode`);
      assert.equal(claims.sub, `system:serviceaccount:${SYSTEM}:holdfast-${id}`);
      assert.equal(claims.exp - claims.iat, 3600, `${id} token lives an hour`);
    }
    assert.equal(seen.key, 0o600, 'the signing key is 0600, as the signer requires');
    assert.equal(seen.ownToken, false, 'the worker container mounts no service account token of its own');
  });

  test('the API has neither the private key nor a Kubernetes token', async () => {
    const seen = await nodeIn(
      apiPod,
      'api',
      `const fs = require('node:fs');
       console.log(JSON.stringify({
         keyEnv: process.env.HOLDFAST_SIGNING_KEY_FILE ?? null,
         signingDir: fs.existsSync('/var/run/holdfast/signing'),
         dataKey: fs.existsSync('/var/lib/holdfast/signing-key.pem'),
         token: fs.existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token'),
       }));`,
    );
    assert.deepEqual(seen, { keyEnv: null, signingDir: false, dataKey: false, token: false });
    const spec = (await admin.apps.readNamespacedDeployment({ name: 'holdfast-api', namespace: SYSTEM })).spec!;
    const secrets = (spec.template.spec!.volumes ?? []).map((v) => v.secret?.secretName).filter(Boolean);
    assert.deepEqual(secrets, [], 'the API mounts no Secret volume');
  });

  test('an alert through the in-cluster API ends in a sealed incident whose evidence verifies', async () => {
    const headers = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });
    const incidentId = await timed('alert accepted', async () => {
      const res = await fetch(`${api}/v1/alerts/falco`, {
        method: 'POST',
        headers: headers(tokens.intake),
        body: JSON.stringify(falcoAlert(WORKLOADS, 'shop')),
      });
      const body = (await res.json()) as { incidentId: string };
      assert.equal(res.status, 202, JSON.stringify(body));
      return body.incidentId;
    });
    shopIncidentId = incidentId;
    type Incident = {
      status: { phase: string; manifestKey?: string; steps: Array<{ name: string; state: string; error?: string }> };
    };
    const sealed = await timed('alert to sealed incident', () =>
      waitFor(
        `incident ${incidentId} sealed`,
        300_000,
        async () => {
          const res = await fetch(`${api}/v1/incidents/${incidentId}`, { headers: headers(tokens.responder) });
          const body = (await res.json()) as Incident;
          return body.status?.manifestKey ? body : undefined;
        },
        1000,
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}\n${await podReport('holdfast-worker')}`);
      }),
    );
    const states = Object.fromEntries(sealed.status.steps.map((s) => [s.name, s.state]));
    for (const step of ['preserve', 'logs', 'filesystem', 'isolate'])
      assert.equal(states[step], 'succeeded', `${step}: ${JSON.stringify(sealed.status.steps)}`);

    // the evidence, fetched through the in-cluster API, verifies with the public half of the worker's key
    const keyFile = path.join(work, 'trusted.pem');
    fs.writeFileSync(keyFile, publicKeyPem);
    // Not spawnSync: the API reads S3 through this process's relay, which a blocked event loop would stall.
    const cli = (...args: string[]) =>
      new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [path.join(repoRoot, 'bin', 'holdfast.js'), ...args],
          { env: { ...process.env, HOLDFAST_API_URL: api, HOLDFAST_TOKEN: tokens.investigator }, timeout: 120_000 },
          (err, stdout, stderr) =>
            resolve({ status: err ? Number((err as { code?: unknown }).code ?? 1) || 1 : 0, stdout, stderr }),
        );
      });
    const dir = path.join(work, 'evidence');
    const got = await cli('evidence', 'get', incidentId, '-o', dir);
    if (got.status !== 0) assert.fail(`${got.stdout}\n${got.stderr}\n${await podReport('holdfast-api')}`);
    const verified = await cli('evidence', 'verify', dir, '--key', keyFile);
    assert.equal(verified.status, 0, `${verified.stdout}\n${verified.stderr}`);
    assert.match(verified.stdout, /VERIFIED/);
  });

  test('both /metrics answer on the pod network, and the Services select the pods', async () => {
    const workerIP = workerPod.status!.podIP!;
    const apiIP = apiPod.status!.podIP!;
    const [workerMetrics, apiMetrics] = await timed('scrape both /metrics from a pod', () =>
      Promise.all([getFromPodNetwork(workerIP, 9464, '/metrics'), getFromPodNetwork(apiIP, 8080, '/metrics')]),
    );
    assert.match(workerMetrics, /^HTTP\/1\.[01] 200/);
    // the worker's step histogram has counted the incident's steps
    assert.match(workerMetrics, /holdfast_step_duration_seconds_count\{step="preserve",outcome="succeeded"\} [1-9]/);
    assert.match(apiMetrics, /^HTTP\/1\.[01] 200/);
    assert.match(apiMetrics, /# TYPE \w+ /);

    const slices = new k8s.KubeConfig();
    slices.loadFromFile(KUBECONFIG!);
    const discovery = slices.makeApiClient(k8s.DiscoveryV1Api);
    for (const [service, ip] of [
      ['holdfast-api', apiIP],
      ['holdfast-worker-metrics', workerIP],
    ] as const) {
      const addresses = await waitFor(`${service} endpoints`, 30_000, async () => {
        const list = await discovery.listNamespacedEndpointSlice({
          namespace: SYSTEM,
          labelSelector: `kubernetes.io/service-name=${service}`,
        });
        const all = list.items.flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses));
        return all.includes(ip) ? all : undefined;
      });
      assert.ok(addresses.includes(ip), `${service} selects ${ip}`);
    }
  });
  test('Temporal away: the API stays in its Service and spools a Falco alert, which joins its incident once Temporal is back', async () => {
    assert.ok(shopIncidentId, 'the first alert opened an incident');
    const responder = { authorization: `Bearer ${tokens.responder}` };
    const alertCount = async () => {
      const res = await fetch(`${api}/v1/incidents/${shopIncidentId}`, { headers: responder });
      return ((await res.json()) as { status?: { alertCount?: number } }).status?.alertCount;
    };
    const countBefore = await alertCount();
    assert.equal(typeof countBefore, 'number');
    const apiIP = apiPod.status!.podIP!;
    const cutAt = Date.now();
    temporalRelay.pause();
    try {
      // Not the first alert again (that would be a repeat, answered from memory): Falco's output differs by event.
      const first = falcoAlert(WORKLOADS, 'shop');
      const distinct = { ...first, output: `${first.output} evt=${Date.now()}` };
      // Falcosidekick posts once and never retries: the answer must be 202, after the API's 5 s wait at most.
      const posted = await timed('alert spooled with Temporal away', async () => {
        const res = await fetch(`${api}/v1/alerts/falco`, {
          method: 'POST',
          headers: { authorization: `Bearer ${tokens.intake}`, 'content-type': 'application/json' },
          body: JSON.stringify(distinct),
          signal: AbortSignal.timeout(30_000),
        });
        return { status: res.status, body: (await res.json()) as { spooled?: boolean } };
      });
      assert.equal(posted.status, 202, JSON.stringify(posted.body));
      assert.equal(posted.body.spooled, true);
      // Longer than the probe takes to fail (period 5 s × 3 failures): the pod is still Ready and selected.
      await sleep(Math.max(0, cutAt + 22_000 - Date.now()));
      const full = await fetch(`${api}/readyz`);
      assert.equal(full.status, 503, 'monitoring sees Temporal away on /readyz');
      const intake = await fetch(`${api}/readyz/intake`);
      assert.equal(intake.status, 200, await intake.text());
      const pod = await admin.core.readNamespacedPod({ name: apiPod.metadata!.name!, namespace: SYSTEM });
      const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
      assert.equal(ready?.status, 'True', `the API pod stayed Ready: ${JSON.stringify(ready)}`);
      const slices = await admin.kc.makeApiClient(k8s.DiscoveryV1Api).listNamespacedEndpointSlice({
        namespace: SYSTEM,
        labelSelector: 'kubernetes.io/service-name=holdfast-api',
      });
      const endpoint = slices.items.flatMap((x) => x.endpoints ?? []).find((e) => e.addresses.includes(apiIP));
      assert.equal(endpoint?.conditions?.ready, true, `the Service still sends alerts to the API pod`);
    } finally {
      temporalRelay.resume();
    }
    // The spool drains once the API reaches Temporal again (its gRPC channel reconnects with a backoff).
    await timed('spooled alert in its incident after Temporal is back', () =>
      waitFor(
        `the spooled alert in incident ${shopIncidentId}`,
        180_000,
        async () => ((await alertCount().catch(() => undefined)) ?? 0) > countBefore! || undefined,
        1000,
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}\n${await podReport('holdfast-api')}`);
      }),
    );
  });
});
