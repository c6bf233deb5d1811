/**
 * `npm run demo`: the whole response on this machine. Brings up the local cluster and the stack
 * (Temporal with its UI, versitygw, Holdfast's API and worker with deploy/rbac.yaml's identities),
 * deploys an "attacked" workload, fires a Falco alert, shows the incident live, and ends with where
 * the evidence is and how to verify it. Keeps running (API, UI) until Ctrl-C; --exit stops at the end.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { silenceAwsSdkNodeWarning } from '../common/config';
import { c2Pod, falcoAlert, shopDeployment } from './demo-workload';
import { clusterUp, identitiesEnv, localCollectorImage, repoRoot, startHoldfast, waitFor } from './local-env';
import { scriptSettings } from './settings';
import { freePort, startStack } from './stack';

const NS = 'holdfast-demo';
const say = (line = '') => process.stdout.write(`${line}\n`);

interface Step {
  name: string;
  kind: string;
  state: string;
  error?: string;
  artifacts: unknown[];
  notes: string[];
}
interface Incident {
  status: { phase: string; playbook?: string; steps: Step[] };
}

/** The on-call "pager" for the demo: prints what Holdfast's webhook notifier sends. */
async function startPager(): Promise<{ url: string; close: () => void }> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      if (body.length < 65536) body += c.toString();
    });
    req.on('end', () => {
      let summary = body.slice(0, 200);
      try {
        const { event } = JSON.parse(body) as {
          event?: { action?: string; tier?: number; severity?: string; title?: string };
        };
        summary = `${event?.action ?? '?'} (tier ${event?.tier ?? '?'}, ${event?.severity ?? '?'}): ${event?.title ?? ''}`;
      } catch {
        /* not JSON: show the start */
      }
      say(`  📟 on-call webhook received: ${summary.slice(0, 160)}`);
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

async function deployWorkload(kc: k8s.KubeConfig, runId: string): Promise<{ pod: string }> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  if (
    await core.readNamespace({ name: NS }).then(
      () => true,
      () => false,
    )
  ) {
    say(`[demo] removing the previous ${NS} namespace…`);
    await core.deleteNamespace({ name: NS, gracePeriodSeconds: 0 });
    await waitFor(`namespace ${NS} to go`, 120_000, () =>
      core.readNamespace({ name: NS }).then(
        () => undefined,
        () => true,
      ),
    );
  }
  await core.createNamespace({ body: { metadata: { name: NS } } });
  await waitFor('the default service account', 30_000, () =>
    core.readNamespacedServiceAccount({ name: 'default', namespace: NS }).then(() => true),
  );
  await core.createNamespacedPod({ namespace: NS, body: c2Pod() });
  const c2IP = await waitFor(
    'the c2 pod',
    90_000,
    async () => (await core.readNamespacedPod({ name: 'c2', namespace: NS })).status?.podIP,
  );
  await apps.createNamespacedDeployment({ namespace: NS, body: shopDeployment('shop', c2IP, runId) });
  await waitFor('deployment shop 2/2 ready', 150_000, async () =>
    (await apps.readNamespacedDeployment({ name: 'shop', namespace: NS })).status?.readyReplicas === 2
      ? true
      : undefined,
  );
  const pods = await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=shop' });
  return { pod: pods.items[0]!.metadata!.name! };
}

async function main(): Promise<number> {
  silenceAwsSdkNodeWarning();
  const exitAtEnd = process.argv.includes('--exit');
  const runId = crypto.randomBytes(3).toString('hex');
  const dataDir = path.join(scriptSettings().demoDir, runId);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  say(
    'Holdfast demo: a container is attacked; Holdfast preserves it, captures evidence, isolates it and pages on-call.',
  );
  say(`[demo] working directory ${dataDir}`);

  const kubeconfig = clusterUp(say);
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const uiPort = await freePort();
  const stack = await startStack({
    dataDir: path.join(dataDir, 'servers'),
    namespace: 'holdfast',
    bucket: 'holdfast-evidence',
    temporalUiPort: uiPort,
    log: say,
  });
  const pager = await startPager();
  const playbooks = path.join(dataDir, 'playbooks.yaml');
  fs.writeFileSync(
    playbooks,
    `notifiers:
  - { name: on-call, type: webhook, url: "${pager.url}/page", secret: "demo-${runId}-webhook-secret" }
playbooks:
  - name: demo-full-response
    match: { sources: [falco] }
    capture: [filesystem, { name: memory, params: { tryCheckpoint: true } }, logs, network]
    contain: [isolate]
    escalation: { tiers: [{ notifiers: [on-call], ackTimeout: 5m }], repeatLastTier: 2 }
`,
  );
  const holdfast = await startHoldfast({
    dataDir: path.join(dataDir, 'holdfast'),
    env: {
      ...process.env,
      ...stack.env,
      ...(await identitiesEnv(kubeconfig, dataDir)),
      HOLDFAST_PLAYBOOKS: playbooks,
      HOLDFAST_CLUSTER_NAME: 'local',
      HOLDFAST_LOG_LEVEL: 'warn',
      HOLDFAST_COLLECTOR_IMAGE: localCollectorImage(),
      HOLDFAST_COLLECTOR_PULL_POLICY: 'Never',
    },
  });
  const stopAll = async () => {
    await holdfast.stop();
    pager.close();
    await stack.stop();
  };
  try {
    say(`[demo] Holdfast API ${holdfast.url}; Temporal UI ${stack.temporalUiUrl ?? '(headless)'}`);
    say(`[demo] deploying the workload in namespace ${NS} (2 replicas; one will be "attacked")…`);
    const { pod } = await deployWorkload(kc, runId);

    say(`[demo] firing a Falco alert: "Drop and execute new binary in container" in ${NS}/${pod}`);
    const auth = (role: keyof typeof holdfast.tokens) => ({
      authorization: `Bearer ${holdfast.tokens[role]}`,
      'content-type': 'application/json',
    });
    const started = Date.now();
    const posted = await fetch(`${holdfast.url}/v1/alerts/falco`, {
      method: 'POST',
      headers: auth('intake'),
      body: JSON.stringify(falcoAlert(NS, pod)),
    });
    const { incidentId, workflowId } = (await posted.json()) as { incidentId: string; workflowId: string };
    say(`[demo] ${posted.status}: incident ${incidentId} (workflow ${workflowId})`);

    const seen = new Map<string, string>();
    let phase = '';
    const incident = await waitFor('the incident to reach escalation', 10 * 60_000, async () => {
      const res = await fetch(`${holdfast.url}/v1/incidents/${incidentId}`, { headers: auth('responder') });
      const body = (await res.json()) as Incident;
      const t = ((Date.now() - started) / 1000).toFixed(1).padStart(5);
      if (body.status.phase !== phase) {
        phase = body.status.phase;
        say(`  ${t}s  phase: ${phase}`);
      }
      for (const step of body.status.steps) {
        if (seen.get(step.name) === step.state) continue;
        seen.set(step.name, step.state);
        const detail =
          step.state === 'succeeded'
            ? ` (${step.artifacts.length} artifact(s))`
            : step.error
              ? `: ${step.error.slice(0, 160)}`
              : '';
        say(`  ${t}s    ${step.kind.padEnd(8)} ${step.name.padEnd(12)} ${step.state}${detail}`);
      }
      return ['escalating', 'acknowledged'].includes(phase) ? body : undefined;
    });
    const failed = incident.status.steps.filter((s) => s.state === 'failed');

    const evidenceDir = path.join(dataDir, 'evidence', incidentId);
    const keyFile = path.join(dataDir, 'signing-key.pub.pem');
    const keys = (await (await fetch(`${holdfast.url}/v1/keys`)).json()) as { keys: Array<{ publicKeyPem: string }> };
    fs.writeFileSync(keyFile, keys.keys[0]!.publicKeyPem);
    const cliEnv = { ...process.env, HOLDFAST_API_URL: holdfast.url, HOLDFAST_TOKEN: holdfast.tokens.investigator };
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'holdfast.js'), ...args], {
        env: cliEnv,
        stdio: 'inherit',
      }).status;
    say();
    say('[demo] the investigator downloads the evidence and verifies it offline:');
    say(`  $ holdfast evidence get ${incidentId} -o ${evidenceDir}`);
    cli('evidence', 'get', incidentId, '-o', evidenceDir);
    say(`  $ holdfast evidence verify ${evidenceDir} --key ${keyFile}`);
    const verified = cli('evidence', 'verify', evidenceDir, '--key', keyFile);
    say();
    say('Where things are:');
    say(
      `  evidence     s3://holdfast-evidence/incidents/${incidentId}/ on ${stack.s3Endpoint} (Object Lock), downloaded to ${evidenceDir}`,
    );
    say(`  dropped file ${path.join(evidenceDir, 'filesystem', 'changed-files.json')} lists /tmp/dropped-miner.sh`);
    say(
      `  history      ${stack.temporalUiUrl ? `${stack.temporalUiUrl}/namespaces/holdfast/workflows/${encodeURIComponent(workflowId)}` : `GET ${holdfast.url}/v1/incidents/${incidentId}/history`}`,
    );
    say(
      `  API          ${holdfast.url}  (export HOLDFAST_API_URL=${holdfast.url} HOLDFAST_TOKEN=${holdfast.tokens.responder})`,
    );
    say(`  the pod      kubectl --kubeconfig ${kubeconfig} -n ${NS} get pods -L holdfast.io/quarantine`);
    say(`  verify again holdfast evidence verify ${evidenceDir} --key ${keyFile}`);
    if (failed.length > 0)
      say(`  NOTE: ${failed.length} step(s) failed: ${failed.map((s) => `${s.name}: ${s.error ?? ''}`).join('; ')}`);
    if (!exitAtEnd) {
      say();
      say(
        '[demo] everything keeps running so you can look around; Ctrl-C stops Holdfast and its servers (the cluster stays: npm run cluster:down).',
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
    }
    return verified === 0 && failed.length === 0 ? 0 : 1;
  } finally {
    say('[demo] stopping…');
    await stopAll();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(`[demo] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
