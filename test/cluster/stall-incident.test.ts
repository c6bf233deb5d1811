/**
 * The whole response against a target that SIGSTOPs every tar and gdb: a real worker on the real Temporal
 * dev server, the real local cluster. Isolation must be in place within the grace (plus a margin) of the
 * alert while the stalled capture is still being retried; the capture then fails as CollectorStalled with the
 * tamper note, and the incident seals with that failure on record.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { resolveSignal, type IncidentStatus } from '../../workflows/definitions';
import { missingServers } from '../helpers/env';
import { sampleAlert, startHarness, type Harness } from '../helpers/incident-harness';
import {
  createReadyNamespace,
  IMAGES,
  kubeClients,
  localCollectorCluster,
  SIGSTOP_COLLECTOR_TOOLS,
  waitFor,
} from '../helpers/kube';

const KUBECONFIG = process.env.HOLDFAST_TEST_KUBECONFIG;
const SKIP =
  missingServers() ??
  (KUBECONFIG ? false : 'HOLDFAST_TEST_KUBECONFIG not set: the local cluster needs root; run npm run cluster:up');
const NS = `holdfast-stall-inc-${crypto.randomBytes(3).toString('hex')}`;
const GRACE_SECONDS = 10;
const STALL_SECONDS = 5;
const MARGIN_MS = 10_000;

describe('an incident whose target stops the collector', { skip: SKIP, timeout: 5 * 60_000 }, () => {
  let admin: ReturnType<typeof kubeClients>;
  let h: Harness;

  before(async () => {
    admin = kubeClients(KUBECONFIG!);
    await createReadyNamespace(admin.core, { metadata: { name: NS } });
    await admin.core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'stopper', labels: { app: 'stopper' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'app',
              image: IMAGES.busybox,
              imagePullPolicy: 'Never',
              command: ['sh', '-c', SIGSTOP_COLLECTOR_TOOLS],
              resources: { limits: { cpu: '500m' } },
            },
          ],
        },
      },
    });
    await waitFor('pod running', 90_000, async () => {
      const p = await admin.core.readNamespacedPod({ name: 'stopper', namespace: NS });
      return p.status?.containerStatuses?.every((c) => c.state?.running) || undefined;
    });
    const live = localCollectorCluster(admin.kc);
    h = await startHarness(
      `
playbooks:
  - name: stall
    containAfter: ${GRACE_SECONDS}s
    capture:
      - { name: filesystem, params: { stallSeconds: ${STALL_SECONDS} } }
      - network
    contain: [isolate]
`,
      { liveCluster: live, clusterName: 'local' },
    );
  });

  after(async () => {
    await h?.close();
    await admin?.core.deleteNamespace({ name: NS, gracePeriodSeconds: 0 }).catch(() => undefined);
  });

  test('isolated within the grace while the stalled capture is retried; it fails with the tamper note; the incident seals', async (t) => {
    const alert = sampleAlert(
      { rule: 'Stopper shell', severity: 'critical' },
      { cluster: 'local', namespace: NS, pod: 'stopper', container: 'app' },
    );
    const alertAt = Date.now();
    const handle = await h.open(alert);

    const isolated = await h.waitForStatus(
      handle,
      (s) => s.steps.some((x) => x.name === 'isolate' && x.state !== 'pending' && x.state !== 'running'),
      GRACE_SECONDS * 1000 + 60_000,
    );
    const isolate = isolated.steps.find((x) => x.name === 'isolate')!;
    assert.equal(isolate.state, 'succeeded', isolate.error);
    const policies = await admin.net.listNamespacedNetworkPolicy({ namespace: NS });
    assert.ok(policies.items.length > 0, 'a quarantine policy is in place');
    // Isolated when the policy exists (the API server's clock, whole seconds); the step itself ends once it has
    // also checked the isolation from inside the pod (a few seconds more).
    const isolatedMs = Date.parse(String(policies.items[0]!.metadata!.creationTimestamp)) - alertAt;
    t.diagnostic(
      `policy created ${isolatedMs} ms after the alert (grace ${GRACE_SECONDS} s); isolate and its check ended after ` +
        `${Date.parse(isolate.endedAt!) - alertAt} ms: ${isolate.verification?.verdict}: ${isolate.verification?.reason}`,
    );
    assert.ok(isolatedMs < GRACE_SECONDS * 1000 + MARGIN_MS, `isolated ${isolatedMs} ms after the alert`);
    assert.ok(isolate.verification, 'the isolation was checked');

    const sealed = await h.waitForStatus(
      handle,
      (s) => s.manifestKey !== undefined || s.phase === 'escalating',
      120_000,
    );
    const fsStep = sealed.steps.find((x) => x.name === 'filesystem')!;
    t.diagnostic(`filesystem ${fsStep.state} after ${Date.parse(fsStep.endedAt!) - alertAt} ms: ${fsStep.error}`);
    assert.equal(fsStep.state, 'failed');
    assert.match(
      fsStep.error!,
      new RegExp(
        `^CollectorStalled: tar: output stalled for ${STALL_SECONDS} s: possibly stopped by a process in the target \\(SIGSTOP\\)`,
      ),
    );
    assert.match(fsStep.error!, /already replaced a stalled one: not retried/, 'the fresh collector stalled too');
    assert.ok(Date.parse(fsStep.endedAt!) > Date.parse(isolate.endedAt!), 'the capture ended after isolation');
    assert.ok(
      sealed.notes?.some((n) =>
        n.startsWith(`containment started after the ${GRACE_SECONDS} s grace while filesystem`),
      ),
      JSON.stringify(sealed.notes),
    );
    const seal = h.seals.find((s) => s.incidentId === sealed.incidentId)!;
    assert.ok(
      seal.failures.some((f) => f.step === 'filesystem' && /SIGSTOP/.test(f.error)),
      JSON.stringify(seal.failures),
    );

    await handle.signal(resolveSignal, { by: 'tester', undoContainment: true });
    assert.equal(((await handle.result()) as IncidentStatus).phase, 'resolved');
  });
});
