/**
 * Adding a capture kind or a containment action is one unit (its own file) plus one line in the
 * registry: here two throwaway units join the real list, and everything else (the steps, their
 * activities, KubernetesCluster, SplitCluster, FakeCluster) takes them as they are.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { Type } from '@sinclair/typebox';
import { MockActivityEnvironment } from '@temporalio/testing';
import { KubernetesCluster } from '../../adapters/kubernetes/cluster';
import { DEFAULT_COLLECTOR } from '../../adapters/kubernetes/collector/settings';
import { KUBERNETES_UNITS } from '../../adapters/kubernetes/registry';
import { SplitCluster } from '../../adapters/kubernetes/split';
import { defineAction, defineCapture } from '../../adapters/kubernetes/units';
import { createStepActivities } from '../../activities/steps/activities';
import { STEPS, stepsFrom } from '../../activities/steps/registry';
import type { StepActivityInput, StepActivityName, StepResult } from '../../activities/contract';
import { FailureType, isFailure } from '../../common/failures';
import { FakeCluster } from '../fakes/cluster';
import { MemoryEvidenceStore } from '../fakes/evidence-store';

type Seen = Array<{ unit: string; target: unknown; params: unknown; dryRun: boolean }>;

/** What two new files under adapters/kubernetes/captures/ and actions/ would export. */
function throwawayUnits(seen: Seen) {
  const capture = defineCapture({
    name: 'probe',
    description: 'Counts to depth (test only).',
    params: Type.Object({
      depth: Type.Integer({ minimum: 1, maximum: 10, default: 3 }),
      label: Type.String({ default: 'probe' }),
    }),
    example: { depth: 5 },
    rbac: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }],
    timeouts: { startToCloseSeconds: 60, heartbeatSeconds: 10, maximumAttempts: 2 },
    async capture(_kube, pod, params, run) {
      // typed by the schema: a number and a string, never undefined
      const depth: number = params.depth;
      const label: string = params.label;
      seen.push({ unit: 'probe', target: pod, params, dryRun: run.dryRun });
      return [
        {
          name: `${label}.txt`,
          body: Readable.from([Buffer.from(`${depth}\n`)]),
          contentType: 'text/plain',
          method: 'test',
          collector: { name: 'test', version: '1' },
          notes: [],
        },
      ];
    },
  });
  const action = defineAction({
    name: 'taint',
    kind: 'contain',
    target: 'node',
    description: 'Taints the node (test only).',
    params: Type.Object({
      effect: Type.Union([Type.Literal('NoSchedule'), Type.Literal('NoExecute')], { default: 'NoSchedule' }),
    }),
    example: { effect: 'NoExecute' },
    rbac: [{ apiGroups: [''], resources: ['nodes'], verbs: ['patch'] }],
    timeouts: { startToCloseSeconds: 30, heartbeatSeconds: 0, maximumAttempts: 5 },
    requiresApproval: true,
    async apply(_kube, node, params, run) {
      const effect: 'NoSchedule' | 'NoExecute' = params.effect;
      seen.push({ unit: 'taint', target: node, params, dryRun: run.dryRun });
      return { changed: true, dryRun: run.dryRun, notes: [`${node} tainted ${effect}`] };
    },
    async undo(_kube, node, params, run) {
      seen.push({ unit: 'untaint', target: node, params, dryRun: run.dryRun });
      return { changed: true, dryRun: run.dryRun, notes: [`${node} untainted`] };
    },
  });
  return { capture, action, units: [...KUBERNETES_UNITS, capture, action] };
}

const pod = { cluster: 'test', namespace: 'shop', pod: 'web-1', container: 'app' };

/** A kubeconfig that is never dialled: the throwaway units do not call the API. */
function offlineKubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'none', server: 'https://127.0.0.1:1' }],
    users: [{ name: 'none', token: 'none' }],
    contexts: [{ name: 'none', cluster: 'none', user: 'none' }],
    currentContext: 'none',
  });
  return kc;
}

describe('a new unit is one file plus one registry line', () => {
  test('it becomes a step described exactly as the unit describes itself; the existing steps are unchanged', () => {
    const { capture, action, units } = throwawayUnits([]);
    const steps = stepsFrom(units);
    assert.deepEqual(
      steps.slice(0, STEPS.length).map((s) => [s.name, s.kind]),
      STEPS.map((s) => [s.name, s.kind]),
    );
    const probe = steps.find((s) => s.name === 'probe')!;
    assert.equal(probe.kind, 'capture');
    assert.equal(probe.needsPod, true);
    assert.equal(probe.undo, undefined);
    assert.equal(probe.params, capture.params);
    assert.deepEqual(
      [probe.description, probe.example, probe.rbac, probe.timeouts],
      [capture.description, capture.example, capture.rbac, capture.timeouts],
    );
    const taint = steps.find((s) => s.name === 'taint')!;
    assert.equal(taint.kind, 'contain');
    assert.equal(taint.needsPod, false, 'a node action also runs for host alerts');
    assert.equal(taint.requiresApproval, true);
    assert.equal(typeof taint.undo, 'function');
    assert.equal(taint.params, action.params);
  });

  test('its activities step.<name> and undo.<name> run against FakeCluster and store evidence like the others', async () => {
    const cluster = new FakeCluster({ node: 'node-3' });
    const evidence = new MemoryEvidenceStore();
    const activities = createStepActivities({ cluster, evidence }, () => {}, stepsFrom(throwawayUnits([]).units));
    assert.ok(activities['step.probe'] && activities['step.taint'] && activities['undo.taint']);
    assert.equal(activities['undo.probe'], undefined, 'a capture has nothing to undo');
    const env = new MockActivityEnvironment();
    const run = (name: StepActivityName, input: StepActivityInput): Promise<StepResult> =>
      env.run(activities[name]!, input);
    const input = (params: Record<string, unknown>): StepActivityInput => ({
      incidentId: 'inc-units',
      target: pod,
      dryRun: false,
      params,
    });

    const captured = await run('step.probe', input({ depth: 4, label: 'probe' }));
    assert.deepEqual(
      captured.artifacts.map((a) => a.key),
      ['incidents/inc-units/probe/probe.bin'],
    );
    assert.equal(cluster.count('capture.probe'), 1);
    assert.deepEqual(cluster.calls[0]!.params, { depth: 4, label: 'probe' });

    // the node comes from the pod when the alert names none, as for cordon
    const tainted = await run('step.taint', input({ effect: 'NoSchedule' }));
    assert.equal(tainted.changed, true);
    assert.deepEqual(
      tainted.artifacts.map((a) => a.key),
      ['incidents/inc-units/contain/taint.json'],
    );
    const record = JSON.parse(
      evidence.objects.get('incidents/inc-units/contain/taint.json')!.body.toString('utf8'),
    ) as { node: string };
    assert.equal(record.node, 'node-3');
    assert.ok(cluster.calls.some((c) => c.op === 'taint' && c.target === 'node-3'));

    const undone = await run('undo.taint', { ...input({}), target: { cluster: 'test', node: 'worker-7' } });
    assert.deepEqual(undone.artifacts, []);
    assert.ok(cluster.calls.some((c) => c.op === 'untaint' && c.target === 'worker-7'));
  });

  test('KubernetesCluster runs it by name with its parameters typed and defaulted; bad parameters are refused', async () => {
    const seen: Seen = [];
    const { units } = throwawayUnits(seen);
    const cluster = new KubernetesCluster(offlineKubeConfig(), DEFAULT_COLLECTOR, units);

    const streams = await cluster.capture('probe', pod, { incidentId: 'inc-units', params: { depth: 7 } });
    assert.deepEqual(
      streams.map((s) => s.name),
      ['probe.txt'],
    );
    assert.deepEqual(seen.shift(), { unit: 'probe', target: pod, params: { depth: 7, label: 'probe' }, dryRun: false });

    const node = { kind: 'node' as const, node: 'node-3' };
    await cluster.change('taint', node, { incidentId: 'inc-units', dryRun: true, params: {} });
    assert.deepEqual(seen.shift(), { unit: 'taint', target: 'node-3', params: { effect: 'NoSchedule' }, dryRun: true });
    await cluster.revert('taint', node, { incidentId: 'inc-units', dryRun: false, params: { effect: 'NoExecute' } });
    assert.deepEqual(seen.shift(), {
      unit: 'untaint',
      target: 'node-3',
      params: { effect: 'NoExecute' },
      dryRun: false,
    });

    const refused = async (run: () => Promise<unknown>, type: FailureType, pattern: RegExp) => {
      const err = await run().then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      assert.ok(err && isFailure(err, type), `${String(err)} is ${type}`);
      assert.match(err.message, pattern);
    };
    await refused(
      () => cluster.capture('probe', pod, { incidentId: 'inc-units', params: { depth: 99 } }),
      FailureType.InvalidInput,
      /probe: params\/depth/,
    );
    await refused(
      () => cluster.change('taint', { kind: 'pod', pod }, { incidentId: 'inc-units', dryRun: false, params: {} }),
      FailureType.InvalidInput,
      /acts on a node/,
    );
    await refused(
      () => cluster.revert('delete-pod', { kind: 'pod', pod }, { incidentId: 'inc-units', dryRun: false, params: {} }),
      FailureType.Unsupported,
      /cannot be undone/,
    );
    await refused(
      () => cluster.capture('nothing', pod, { incidentId: 'inc-units', params: {} }),
      FailureType.Unsupported,
      /no capture named nothing/,
    );
    assert.equal(seen.length, 0, 'nothing refused reached a unit');
  });

  test('SplitCluster sends its capture to the capture identity and its change and revert to the containment identity', async () => {
    const capturing = new FakeCluster();
    const containing = new FakeCluster();
    const cluster = new SplitCluster(capturing, containing);
    const opts = { incidentId: 'inc-units', dryRun: false, params: {} };
    await cluster.capture('probe', pod, opts);
    await cluster.change('taint', { kind: 'node', node: 'node-3' }, opts);
    await cluster.revert('taint', { kind: 'node', node: 'node-3' }, opts);
    assert.deepEqual(
      capturing.calls.map((c) => c.op),
      ['capture.probe'],
    );
    assert.deepEqual(
      containing.calls.map((c) => c.op),
      ['taint', 'untaint'],
    );
  });
});
