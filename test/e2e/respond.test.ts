/**
 * End to end on the real local cluster, through the API, as a user runs it: `dist/scripts/start.js`
 * (API + worker) on the test's Temporal and S3, with the worker holding exactly the capture and
 * containment identities of deploy/rbac.yaml. A Falco alert about an "attacked" pod goes in; the test
 * checks the cluster and the evidence that comes out, then verifies the bundle with the CLI.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { QUARANTINE_LABEL } from '../../adapters/kubernetes/labels';
import { c2Pod, DROPPED_FILE, falcoAlert, memoryMarker, shopDeployment } from '../../scripts/demo-workload';
import { identitiesEnv, localCollectorImage, startHoldfast, type RunningHoldfast } from '../../scripts/local-env';
import { missingServers, repoRoot } from '../helpers/env';
import { deploymentOf, deploymentReady, execIn, IMAGES, kubeClients, sleep, tarNames, waitFor } from '../helpers/kube';
import { startRecordingServer, type RecordingServer } from '../helpers/recording-server';

const KUBECONFIG = process.env.HOLDFAST_TEST_KUBECONFIG;
const SKIP =
  missingServers() ??
  (KUBECONFIG ? false : 'HOLDFAST_TEST_KUBECONFIG not set: the local cluster needs root (npm test starts it as root)');

const RUN = crypto.randomBytes(3).toString('hex');
const NS = `holdfast-e2e-${RUN}`;
const NS_DRY = `holdfast-dry-${RUN}`;
const MEMORY_MARKER = memoryMarker(RUN);
const DISTROLESS_MARKER = `holdfast-distroless-secret-${RUN}`;

interface IncidentBody {
  status: {
    phase: string;
    steps: Array<{
      name: string;
      kind: string;
      state: string;
      error?: string;
      notes: string[];
      verification?: { verdict: string; reason: string };
    }>;
  };
}

describe('end to end on the local cluster, through the API', { skip: SKIP, timeout: 20 * 60_000 }, () => {
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;
  let net: k8s.NetworkingV1Api;
  let exec: k8s.Exec;
  let hook: RecordingServer;
  let holdfast: RunningHoldfast | undefined;
  let api = '';
  let work = '';
  let nodeName = '';
  let c2IP = '';

  const headers = (role: keyof RunningHoldfast['tokens']) => ({
    authorization: `Bearer ${holdfast!.tokens[role]}`,
    'content-type': 'application/json',
  });
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'holdfast.js'), ...args], {
      env: { ...process.env, HOLDFAST_API_URL: api, HOLDFAST_TOKEN: holdfast!.tokens.investigator },
      encoding: 'utf8',
      timeout: 120_000,
    });

  async function postAlert(
    namespace: string,
    pod: string,
    container?: string,
  ): Promise<{ incidentId: string; acceptedAt: number }> {
    const acceptedAt = Date.now();
    const res = await fetch(`${api}/v1/alerts/falco`, {
      method: 'POST',
      headers: headers('intake'),
      body: JSON.stringify(falcoAlert(namespace, pod, container)),
    });
    const body = (await res.json()) as { incidentId: string };
    assert.equal(res.status, 202, JSON.stringify(body));
    return { incidentId: body.incidentId, acceptedAt };
  }

  async function incident(incidentId: string): Promise<IncidentBody> {
    const res = await fetch(`${api}/v1/incidents/${incidentId}`, { headers: headers('responder') });
    assert.equal(res.status, 200);
    return (await res.json()) as IncidentBody;
  }

  /** Waits until the incident is escalating (captures, containment and sealing are over). */
  async function escalated(incidentId: string): Promise<IncidentBody> {
    return waitFor(
      `incident ${incidentId} to reach escalation`,
      240_000,
      async () => {
        const body = await incident(incidentId);
        return ['escalating', 'acknowledged'].includes(body.status.phase) ? body : undefined;
      },
      1000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n--- stack output ---\n${holdfast!.output().slice(-4000)}`);
    });
  }

  async function runningPods(namespace: string, selector: string): Promise<k8s.V1Pod[]> {
    return (await core.listNamespacedPod({ namespace, labelSelector: selector })).items.filter(
      (p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp,
    );
  }

  /** A GET over raw TCP from the c2 pod (busybox wget segfaults here): the body, or '' when refused or dropped. */
  async function fetchFromC2(ip: string): Promise<string> {
    const r = await execIn(
      exec,
      NS,
      'c2',
      'c2',
      ['sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 6 nc -w 4 ${ip} 8080`],
      20_000,
    );
    return r.code === 0 ? r.stdout : '';
  }

  async function downloadEvidence(incidentId: string): Promise<string> {
    const dir = path.join(work, `evidence-${incidentId}`);
    const got = cli('evidence', 'get', incidentId, '-o', dir);
    assert.equal(got.status, 0, `${got.stdout}\n${got.stderr}`);
    const keys = (await (await fetch(`${api}/v1/keys`)).json()) as { keys: Array<{ publicKeyPem: string }> };
    const keyFile = path.join(work, 'signing-key.pub.pem');
    fs.writeFileSync(keyFile, keys.keys[0]!.publicKeyPem);
    const verified = cli('evidence', 'verify', dir, '--key', keyFile);
    assert.equal(verified.status, 0, `${verified.stdout}\n${verified.stderr}`);
    assert.match(verified.stdout, /VERIFIED/);
    const bundle = path.join(work, `${incidentId}.tar`);
    const gotBundle = cli('evidence', 'get', incidentId, '--bundle', bundle);
    assert.equal(gotBundle.status, 0, `${gotBundle.stdout}\n${gotBundle.stderr}`);
    const bundleVerified = cli('evidence', 'verify', bundle, '--key', keyFile);
    assert.equal(bundleVerified.status, 0, `${bundleVerified.stdout}\n${bundleVerified.stderr}`);
    assert.match(bundleVerified.stdout, /VERIFIED/);
    return dir;
  }

  const artifact = (dir: string, rel: string) => path.join(dir, ...rel.split('/'));

  before(async () => {
    ({ core, apps, net, exec } = kubeClients(KUBECONFIG!));
    nodeName = (await core.listNode()).items[0]!.metadata!.name!;
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-e2e-'));
    for (const ns of [NS, NS_DRY]) {
      await core.createNamespace({ body: { metadata: { name: ns, labels: { 'holdfast.io/test': 'e2e' } } } });
      await waitFor(`default service account in ${ns}`, 30_000, async () =>
        core.readNamespacedServiceAccount({ name: 'default', namespace: ns }).then(() => true),
      );
    }

    // the worker gets exactly deploy/rbac.yaml's identities
    const identities = await identitiesEnv(KUBECONFIG!, work);

    hook = await startRecordingServer();
    const playbooks = path.join(work, 'playbooks.yaml');
    fs.writeFileSync(
      playbooks,
      `
notifiers:
  - { name: oncall, type: webhook, url: "${hook.url}/holdfast", secret: "e2e-webhook-secret-${RUN}" }
playbooks:
  - name: e2e-dry-run
    match: { namespaces: ["holdfast-dry-*"] }
    dryRun: true
    capture: [filesystem, memory, logs, network]
    contain: [isolate, cordon]
    escalation: { tiers: [{ notifiers: [oncall], ackTimeout: 30m }] }
  - name: e2e-respond
    match: { sources: [falco] }
    capture: [filesystem, { name: memory, params: { tryCheckpoint: true } }, logs, { name: network, params: { packetCaptureSeconds: 2 } }]
    contain: [isolate]
    escalation: { tiers: [{ notifiers: [oncall], ackTimeout: 30m }] }
`,
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...identities,
      HOLDFAST_PLAYBOOKS: playbooks,
      HOLDFAST_CLUSTER_NAME: 'local',
      HOLDFAST_COLLECTOR_IMAGE: localCollectorImage(),
      HOLDFAST_COLLECTOR_PULL_POLICY: 'Never',
      HOLDFAST_LOG_LEVEL: 'warn',
    };
    delete env.KUBECONFIG;
    holdfast = await startHoldfast({ env, dataDir: path.join(work, 'data') });
    api = holdfast.url;

    // the attacker's "C2" listener, then the attacked Deployment that connects out to it
    await core.createNamespacedPod({ namespace: NS, body: c2Pod() });
    c2IP = await waitFor('c2 pod running', 90_000, async () => {
      const p = await core.readNamespacedPod({ name: 'c2', namespace: NS });
      return p.status?.phase === 'Running' ? p.status.podIP : undefined;
    });
  });

  after(async () => {
    await holdfast?.stop();
    await hook?.close();
    if (core) {
      for (const ns of [NS, NS_DRY])
        await core.deleteNamespace({ name: ns, gracePeriodSeconds: 0 }).catch(() => undefined);
      await core
        .patchNode(
          { name: nodeName, body: { spec: { unschedulable: null } } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        )
        .catch(() => undefined);
    }
    if (work && process.env.HOLDFAST_KEEP_TEST_DATA !== '1') fs.rmSync(work, { recursive: true, force: true });
  });

  const shop = (name: string) => shopDeployment(name, c2IP, RUN);

  test('busybox target: preserved in seconds, evidence complete and verified, isolated, the Deployment back to 2 replicas', async (t) => {
    await apps.createNamespacedDeployment({ namespace: NS, body: shop('shop') });
    await waitFor('deployment shop 2/2 ready', 150_000, () => deploymentReady(apps, NS, 'shop', 2), 1000);
    const suspect = (await runningPods(NS, 'app=shop'))[0]!;
    const pod = suspect.metadata!.name!;
    const podIP = suspect.status!.podIP!;
    assert.match(
      await waitFor(
        'the suspect to answer before isolation',
        30_000,
        async () => (await fetchFromC2(podIP)) || undefined,
        1000,
      ),
      /shop-ok/,
    );
    await waitFor(
      'the reverse connection to c2',
      30_000,
      async () => {
        const r = await execIn(exec, NS, pod, 'app', ['sh', '-c', 'cat /proc/net/tcp']);
        return r.stdout.includes(':115C 01') ? true : undefined; // remote port 4444, ESTABLISHED
      },
      1000,
    );

    const { incidentId, acceptedAt } = await postAlert(NS, pod);
    const preservedAfter = await waitFor(
      'the pod to be preserved',
      30_000,
      async () => {
        const p = await core.readNamespacedPod({ name: pod, namespace: NS });
        return p.metadata?.labels?.[QUARANTINE_LABEL] ? Date.now() - acceptedAt : undefined;
      },
      100,
    );
    assert.ok(preservedAfter < 10_000, `preserved ${preservedAfter} ms after the alert was accepted`);

    const body = await escalated(incidentId);
    for (const step of body.status.steps.filter((s) => ['preserve', 'capture', 'contain', 'seal'].includes(s.kind))) {
      assert.equal(step.state, 'succeeded', `${step.name}: ${step.error ?? ''} ${step.notes.join('; ')}`);
    }
    // Checked from inside the pod as the capture identity: the idle reverse connection's C2 no longer answers.
    const verification = body.status.steps.find((s) => s.name === 'isolate')?.verification;
    t.diagnostic(`isolate: ${verification?.verdict}: ${verification?.reason}`);
    assert.equal(verification?.verdict, 'effective', verification?.reason);
    assert.match(verification!.reason, new RegExp(`${c2IP.replaceAll('.', '\\.')}:4444 \\(ESTABLISHED`));

    // the cluster: preserved, detached, annotated, isolated; the Deployment healed around it
    const now = await core.readNamespacedPod({ name: pod, namespace: NS });
    assert.equal(now.status?.phase, 'Running');
    assert.equal(now.metadata?.annotations?.['cluster-autoscaler.kubernetes.io/safe-to-evict'], 'false');
    assert.equal(now.metadata?.annotations?.['karpenter.sh/do-not-disrupt'], 'true');
    assert.equal(now.metadata?.labels?.app, undefined, 'detached from the ReplicaSet');
    assert.ok(!now.metadata?.ownerReferences?.some((o) => o.controller), 'no controller owns the suspect any more');
    assert.equal(
      now.spec?.ephemeralContainers?.[0]?.image,
      localCollectorImage(),
      'the collector came from the trusted image',
    );
    const node = await core.readNode({ name: nodeName });
    assert.equal(node.metadata?.annotations?.['cluster-autoscaler.kubernetes.io/scale-down-disabled'], 'true');
    const policies = await net.listNamespacedNetworkPolicy({ namespace: NS });
    assert.equal(policies.items.length, 1);
    assert.deepEqual(policies.items[0]!.spec?.podSelector?.matchLabels, {
      [QUARANTINE_LABEL]: now.metadata!.labels![QUARANTINE_LABEL],
    });
    assert.deepEqual(policies.items[0]!.spec?.policyTypes, ['Ingress', 'Egress']);
    await waitFor(
      'new connections to the suspect to fail',
      45_000,
      async () => (await fetchFromC2(podIP)) === '' || undefined,
      1000,
    );
    assert.equal(await fetchFromC2(podIP), '', 'still isolated on a second try');
    await waitFor('the Deployment back to 2 ready replicas', 120_000, () => deploymentReady(apps, NS, 'shop', 2), 1000);
    const replicas = await runningPods(NS, 'app=shop');
    assert.equal(replicas.length, 2);
    assert.ok(!replicas.some((p) => p.metadata!.name === pod));
    assert.equal(
      (await core.readNamespacedPod({ name: pod, namespace: NS })).status?.phase,
      'Running',
      'the suspect still runs',
    );

    // escalation reached the on-call webhook
    const page = await waitFor('the escalation webhook', 30_000, async () =>
      hook.requests.find((r) => r.rawBody.includes(incidentId)),
    );
    assert.equal(page.method, 'POST');

    // the evidence, as an investigator gets it
    const dir = await downloadEvidence(incidentId);
    const checked = JSON.parse(fs.readFileSync(artifact(dir, 'contain/containment-verification.json'), 'utf8')) as {
      verdict: string;
      probes: Array<{ address: string; port: number; reachableBefore: boolean | null; reachableAfter: boolean | null }>;
    };
    assert.equal(checked.verdict, 'effective');
    assert.ok(
      checked.probes.some(
        (p) => p.address === c2IP && p.port === 4444 && p.reachableBefore && p.reachableAfter === false,
      ),
      JSON.stringify(checked.probes),
    );
    const changed = JSON.parse(fs.readFileSync(artifact(dir, 'filesystem/changed-files.json'), 'utf8')) as {
      entries: Array<{ path: string }>;
    };
    assert.ok(
      changed.entries.some((e) => e.path === DROPPED_FILE),
      'the dropped file is in the changed-files list',
    );
    assert.ok(
      (await tarNames(artifact(dir, 'filesystem/rootfs.tar'))).includes(`.${DROPPED_FILE}`),
      'and in the rootfs snapshot',
    );
    const cores = fs.readdirSync(artifact(dir, 'memory')).filter((f) => f.endsWith('.core'));
    assert.ok(cores.length >= 1);
    assert.ok(
      cores.some((f) => fs.readFileSync(artifact(dir, `memory/${f}`)).includes(MEMORY_MARKER)),
      `a core holds the memory marker (${cores.join(', ')})`,
    );
    assert.ok(
      fs
        .readFileSync(artifact(dir, `memory/${cores[0]}`))
        .subarray(0, 4)
        .equals(Buffer.from('\x7fELF', 'latin1')),
      'cores are ELF files',
    );
    const checkpoint = JSON.parse(fs.readFileSync(artifact(dir, 'memory/checkpoint-attempt.json'), 'utf8')) as {
      status: number;
      answer: string;
    };
    assert.ok(checkpoint.status === 200 || /checkpoint/i.test(checkpoint.answer), JSON.stringify(checkpoint));
    const network = JSON.parse(fs.readFileSync(artifact(dir, 'network/network-state.json'), 'utf8')) as {
      sockets: Array<{
        state?: string;
        remote?: { address: string; port: number };
        processes: Array<{ comm?: string }>;
      }>;
    };
    const reverse = network.sockets.find(
      (s) => s.state === 'ESTABLISHED' && s.remote?.address === c2IP && s.remote.port === 4444,
    );
    assert.ok(
      reverse,
      `the open connection to c2 is in the network state: ${JSON.stringify(network.sockets.slice(0, 10))}`,
    );
    assert.ok(
      reverse.processes.some((p) => p.comm === 'sleep'),
      `with the process that holds it: ${JSON.stringify(reverse.processes)}`,
    );
    const pcap = fs.readFileSync(artifact(dir, 'network/packets.pcap'));
    assert.ok(pcap.subarray(0, 4).equals(Buffer.from([0xd4, 0xc3, 0xb2, 0xa1])), 'a pcap (little-endian magic)');
    const view = JSON.parse(fs.readFileSync(artifact(dir, 'network/kubernetes-network-view.json'), 'utf8')) as {
      pod: { labelsBeforeHoldfast: Record<string, string> };
    };
    assert.equal(view.pod.labelsBeforeHoldfast.app, 'shop');
    assert.match(fs.readFileSync(artifact(dir, 'logs/app.log'), 'utf8'), /^\S+Z shop started$/m);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
      artifacts: Array<{ name: string; collector: { name: string; imageDigest?: string } }>;
    };
    const tarEntry = manifest.artifacts.find((a) => a.name === 'rootfs.tar')!;
    assert.equal(tarEntry.collector.name, 'holdfast-collector');
    assert.match(
      tarEntry.collector.imageDigest ?? '',
      /^sha256:[0-9a-f]{64}$/,
      'the manifest names the collector image digest',
    );

    // The timeline (issue 15), from the API: the dropped file's ctime before the alert, the isolate step after it.
    const timeline = cli('incidents', 'timeline', incidentId, '--format', 'jsonl');
    assert.equal(timeline.status, 0, timeline.stderr);
    const rows = timeline.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { trailer?: boolean; kind: string; what: string; text: string; source: string })
      .filter((r) => !r.trailer);
    const droppedAt = rows.findIndex((r) => r.kind === 'file' && r.what.startsWith('ctime') && r.text === DROPPED_FILE);
    const alertAt = rows.findIndex((r) => r.kind === 'alert');
    const isolateAt = rows.findIndex(
      (r) => r.kind === 'step' && r.what === 'step started' && r.text === 'isolate started',
    );
    assert.ok(droppedAt >= 0 && droppedAt < alertAt && alertAt < isolateAt, timeline.stdout.slice(0, 4000));
    assert.ok(
      rows.some((r) => r.kind === 'process' && r.source === 'memory/processes.json'),
      'process start times from the collector',
    );
    assert.ok(rows.some((r) => r.kind === 'log' && r.source === 'logs/app.log' && r.text === 'shop started'));
  });

  test('distroless target: no shell in the image, the same evidence through the collector', async () => {
    await apps.createNamespacedDeployment({
      namespace: NS,
      body: deploymentOf('api', {
        name: 'server',
        image: IMAGES.distroless,
        env: [{ name: 'SESSION_SECRET', value: DISTROLESS_MARKER }],
        ports: [{ containerPort: 8080 }],
      }),
    });
    await waitFor('deployment api 2/2 ready', 150_000, () => deploymentReady(apps, NS, 'api', 2), 1000);
    const suspect = (await runningPods(NS, 'app=api'))[0]!;
    const pod = suspect.metadata!.name!;
    const podIP = suspect.status!.podIP!;
    assert.match(
      await waitFor('the server to answer', 30_000, async () => (await fetchFromC2(podIP)) || undefined, 1000),
      /holdfast-distroless-marker/,
    );
    // an attacker drops a file (written through /proc/1/root from a debug container) and holds a connection open
    const current = await core.readNamespacedPod({ name: pod, namespace: NS });
    current.spec!.ephemeralContainers = [
      {
        name: 'attacker',
        image: IMAGES.busybox,
        imagePullPolicy: 'Never',
        targetContainerName: 'server',
        command: ['sh', '-c', 'echo implant > /proc/1/root/app/implant.bin'],
        securityContext: { capabilities: { add: ['SYS_PTRACE'] } },
      },
    ];
    await core.replaceNamespacedPodEphemeralcontainers({ name: pod, namespace: NS, body: current });
    await waitFor('the attacker container to finish', 60_000, async () => {
      const p = await core.readNamespacedPod({ name: pod, namespace: NS });
      return (
        p.status?.ephemeralContainerStatuses?.find((s) => s.name === 'attacker')?.state?.terminated?.exitCode === 0 ||
        undefined
      );
    });
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'holder' },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'holder',
              image: IMAGES.busybox,
              imagePullPolicy: 'Never',
              command: ['sh', '-c', `sleep 100000 | nc ${podIP} 8080`],
            },
          ],
        },
      },
    });
    const holderIP = await waitFor('holder running', 60_000, async () => {
      const p = await core.readNamespacedPod({ name: 'holder', namespace: NS });
      return p.status?.phase === 'Running' ? p.status.podIP : undefined;
    });
    await sleep(1000);

    const { incidentId } = await postAlert(NS, pod, 'server');
    const body = await escalated(incidentId);
    for (const step of body.status.steps.filter((s) => ['preserve', 'capture', 'contain', 'seal'].includes(s.kind))) {
      assert.equal(step.state, 'succeeded', `${step.name}: ${step.error ?? ''} ${step.notes.join('; ')}`);
    }
    const dir = await downloadEvidence(incidentId);
    const changed = JSON.parse(fs.readFileSync(artifact(dir, 'filesystem/changed-files.json'), 'utf8')) as {
      entries: Array<{ path: string }>;
    };
    assert.ok(
      changed.entries.some((e) => e.path === '/app/implant.bin'),
      JSON.stringify(changed.entries.map((e) => e.path)),
    );
    const names = await tarNames(artifact(dir, 'filesystem/rootfs.tar'));
    assert.ok(names.includes('./app/implant.bin') && names.includes('./app/tinyhttp'));
    const processes = JSON.parse(fs.readFileSync(artifact(dir, 'memory/processes.json'), 'utf8')) as {
      processes: Array<{ pid: number; exe: string }>;
    };
    const server = processes.processes.find((p) => p.exe === '/app/tinyhttp');
    assert.ok(server, JSON.stringify(processes));
    assert.ok(
      fs.readFileSync(artifact(dir, `memory/pid-${server.pid}.core`)).includes(DISTROLESS_MARKER),
      'the server core holds its secret',
    );
    const network = JSON.parse(fs.readFileSync(artifact(dir, 'network/network-state.json'), 'utf8')) as {
      sockets: Array<{ state?: string; local?: { port: number }; remote?: { address: string } }>;
    };
    assert.ok(
      network.sockets.some(
        (s) => s.state === 'ESTABLISHED' && s.local?.port === 8080 && s.remote?.address === holderIP,
      ),
      'the held connection is in the network state',
    );
    assert.match(fs.readFileSync(artifact(dir, 'logs/server.log'), 'utf8'), /tinyhttp listening/);
    await waitFor(
      'new connections to the suspect to fail',
      45_000,
      async () => (await fetchFromC2(podIP)) === '' || undefined,
      1000,
    );
    await waitFor('the Deployment back to 2 ready replicas', 120_000, () => deploymentReady(apps, NS, 'api', 2), 1000);
    assert.equal((await core.readNamespacedPod({ name: pod, namespace: NS })).status?.phase, 'Running');
  });

  test('dry run: the same scenario changes nothing in the cluster', async () => {
    await core.createNamespacedPod({
      namespace: NS_DRY,
      body: {
        metadata: { name: 'c2' },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'c2', image: IMAGES.busybox, imagePullPolicy: 'Never', command: ['sleep', '100000'] }],
        },
      },
    });
    await apps.createNamespacedDeployment({ namespace: NS_DRY, body: shop('shop') });
    await waitFor('deployment shop 2/2 ready', 150_000, () => deploymentReady(apps, NS_DRY, 'shop', 2), 1000);
    const pods = await runningPods(NS_DRY, 'app=shop');
    const pod = pods[0]!.metadata!.name!;
    const snapshot = async () => {
      const p = await core.readNamespacedPod({ name: pod, namespace: NS_DRY });
      const n = await core.readNode({ name: nodeName });
      const rs = await apps.listNamespacedReplicaSet({ namespace: NS_DRY });
      return {
        labels: p.metadata?.labels,
        annotations: p.metadata?.annotations,
        owners: p.metadata?.ownerReferences?.map((o) => o.uid),
        ephemeral: p.spec?.ephemeralContainers ?? [],
        node: { unschedulable: n.spec?.unschedulable, annotations: n.metadata?.annotations },
        policies: (await net.listNamespacedNetworkPolicy({ namespace: NS_DRY })).items.map((x) => x.metadata?.name),
        pods: (await runningPods(NS_DRY, 'app=shop')).map((x) => x.metadata?.name).sort(),
        replicaSets: rs.items.map((r) => [r.metadata?.name, r.spec?.replicas]),
      };
    };
    const before = await snapshot();
    const { incidentId } = await postAlert(NS_DRY, pod);
    const body = await escalated(incidentId);
    assert.ok(
      body.status.steps.some((s) => s.name === 'cordon'),
      'the dry-run playbook includes cordon',
    );
    for (const step of body.status.steps.filter((s) => ['preserve', 'capture', 'contain', 'seal'].includes(s.kind))) {
      assert.equal(step.state, 'succeeded', `${step.name}: ${step.error ?? ''}`);
    }
    await sleep(3000); // anything the response changed would have happened by now
    assert.deepEqual(await snapshot(), before);
    const evidence = (await (
      await fetch(`${api}/v1/incidents/${incidentId}/evidence`, { headers: headers('investigator') })
    ).json()) as { artifacts: Array<{ path: string }> };
    const paths = evidence.artifacts.map((a) => a.path);
    for (const expected of ['filesystem/dry-run.json', 'memory/dry-run.json', 'network/dry-run.json', 'logs/app.log'])
      assert.ok(paths.includes(expected), `${expected} in ${paths.join(', ')}`);
  });
});
