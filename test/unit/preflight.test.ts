import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import pino from 'pino';
import { createApiMetrics } from '../../api/metrics';
import { buildServer } from '../../api/server';
import { preflightRoutes } from '../../api/routes/preflight';
import { temporalUnreachableReport } from '../../api/preflight';
import { HttpProblem } from '../../api/errors';
import { createPreflightActivities } from '../../activities/preflight';
import { MockActivityEnvironment } from '@temporalio/testing';
import { SHARED_WITH_PROBE } from '../../adapters/preflight/types';
import { preflightCommand, formatReport } from '../../cli/preflight';
import { loadConfig } from '../../common/config';
import { exitCodeOf, runChecks, type PreflightCheck, type PreflightReport } from '../../common/preflight';
import { PREFLIGHT_CHECKS } from '../../adapters/preflight/registry';
import { checkpointCheck } from '../../adapters/preflight/checks/checkpoint';
import { clockSkewCheck, skewOf } from '../../adapters/preflight/checks/clock-skew';
import { collectorCheck } from '../../adapters/preflight/checks/collector';
import { networkPolicyCheck } from '../../adapters/preflight/checks/network-policy';
import { objectLockCheck } from '../../adapters/preflight/checks/object-lock';
import { rbacCheck } from '../../adapters/preflight/checks/rbac';
import { temporalCheck } from '../../adapters/preflight/checks/temporal';
import { requirements } from '../../adapters/preflight/needs';
import { classifyCheckpoint } from '../../adapters/preflight/probe-kube';
import { KUBERNETES_UNITS } from '../../adapters/kubernetes/registry';
import { enabledSteps } from '../../worker/preflight';
import { DEFAULT_STEPS, FakeIdentity, fakeDeps } from '../fakes/preflight';

const signal = new AbortController().signal;
const withMemory = (params: Record<string, unknown>) =>
  DEFAULT_STEPS.map((s) => (s.name === 'memory' ? { ...s, params, playbooks: ['deep'] } : s));

describe('preflight: what the enabled steps need, from their own RBAC declarations', () => {
  test('every rule of every enabled step, per identity; cluster-scoped resources asked without a namespace', () => {
    const needed = requirements(KUBERNETES_UNITS, DEFAULT_STEPS);
    const keys = needed.map((r) => `${r.identity} ${r.question.verb} ${r.question.group}/${r.question.resource}`);
    assert.ok(keys.includes('capture list networking.k8s.io/networkpolicies'));
    assert.ok(keys.includes('containment create networking.k8s.io/networkpolicies'));
    const exec = needed.find((r) => r.question.resource === 'pods' && r.question.subresource === 'exec');
    assert.equal(exec?.identity, 'capture');
    const nodes = needed.filter((r) => r.question.resource === 'nodes');
    assert.ok(nodes.length > 0 && nodes.every((r) => r.question.clusterScoped));
    // Exactly what the units declare for these steps, nothing else.
    const declared = new Set(
      KUBERNETES_UNITS.filter((u) => DEFAULT_STEPS.some((s) => s.name === u.name)).flatMap((u) =>
        u.rbac.filter((r) => !r.optionalRole).flatMap((r) => r.resources),
      ),
    );
    const asked = new Set(
      needed.map((r) => `${r.question.resource}${r.question.subresource ? `/${r.question.subresource}` : ''}`),
    );
    assert.deepEqual([...asked].sort(), [...declared].sort());
  });

  test('an optional role is needed only when its parameter is on (nodes/proxy for tryCheckpoint)', () => {
    const proxy = (steps: typeof DEFAULT_STEPS) =>
      requirements(KUBERNETES_UNITS, steps).filter((r) => r.question.subresource === 'proxy');
    assert.deepEqual(proxy(DEFAULT_STEPS), []);
    const on = proxy(withMemory({ tryCheckpoint: true }));
    assert.equal(on.length, 1);
    assert.deepEqual([on[0]!.identity, on[0]!.question.verb, on[0]!.steps], ['capture', 'create', ['memory']]);
  });

  test('enabled steps come from the playbooks file, plus the default playbook unless one matches everything', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-preflight-'));
    try {
      const file = path.join(dir, 'playbooks.yaml');
      fs.writeFileSync(
        file,
        'playbooks:\n  - name: deep\n    match: {namespaces: [prod]}\n    capture: [{name: memory, params: {tryCheckpoint: true}}]\n',
      );
      const steps = enabledSteps(loadConfig({ HOLDFAST_PLAYBOOKS: file }, dir));
      const memory = steps.filter((s) => s.name === 'memory');
      assert.deepEqual(
        memory.map((s) => [s.playbooks, s.params.tryCheckpoint]),
        [
          [['deep'], true],
          [['default'], false],
        ],
      );
      assert.ok(steps.some((s) => s.name === 'isolate' && s.playbooks.includes('default')));
      fs.writeFileSync(file, 'playbooks:\n  - name: only\n    capture: [logs]\n');
      assert.deepEqual(
        enabledSteps(loadConfig({ HOLDFAST_PLAYBOOKS: file }, dir)).map((s) => s.name),
        ['preserve', 'logs'],
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('preflight checks (fakes)', () => {
  test('rbac: a verb refused names the identity, the verb and the step, with the fix; every question asked in the namespace', async () => {
    const capture = new FakeIdentity('capture', ['list networkpolicies']);
    const deps = fakeDeps({ identities: [capture, new FakeIdentity('containment')] });
    const result = await rbacCheck.run(deps, signal);
    assert.equal(result.status, 'fail');
    assert.match(result.detail, /capture may not list networkpolicies\.networking\.k8s\.io \(needed by network\)/);
    assert.match(result.fix!, /deploy\/rbac\.yaml/);
    assert.ok(
      capture.asked.every((q) => (q.resource === 'nodes' ? q.namespace === undefined : q.namespace === 'team-a')),
    );
    assert.equal((await rbacCheck.run(fakeDeps(), signal)).status, 'pass');
    const none = await rbacCheck.run(fakeDeps({ identities: [new FakeIdentity('capture')] }), signal);
    assert.match(none.detail, /no credentials for the containment identity/);
    assert.equal((await rbacCheck.run(fakeDeps({ enabledSteps: [] }), signal)).status, 'skip');
    // KUBECONFIG standing in for both identities (and the throwaway objects) passes, saying so.
    const own = await rbacCheck.run(
      fakeDeps({
        identities: [
          new FakeIdentity('capture', [], `kc ${SHARED_WITH_PROBE}`),
          new FakeIdentity('containment', [], `kc ${SHARED_WITH_PROBE}`),
        ],
      }),
      signal,
    );
    assert.equal(own.status, 'pass');
    assert.match(
      own.detail,
      /capture and containment use the credentials that create the throwaway objects \(KUBECONFIG\): give the worker its own identities/,
    );
    assert.equal(rbacCheck.neededBy(fakeDeps({ enabledSteps: [] })), undefined);
  });

  test('collector: not pinned, Pod Security, admission policy, no ptrace, not present: each fails with its fix', async () => {
    const unpinned = await collectorCheck.run(fakeDeps({ collector: { image: 'docker.io/x/collector:1' } }), signal);
    assert.equal(unpinned.status, 'fail');
    assert.match(unpinned.fix!, /HOLDFAST_COLLECTOR_IMAGE/);

    const deps = fakeDeps();
    assert.equal((await collectorCheck.run(deps, signal)).status, 'pass');
    deps.probe.labels = { 'pod-security.kubernetes.io/enforce': 'restricted' };
    deps.probe.collectorResult = {
      outcome: 'refused',
      by: 'pod-security',
      message: 'violates PodSecurity "restricted:latest"',
    };
    const restricted = await collectorCheck.run(deps, signal);
    assert.equal(restricted.status, 'fail');
    assert.match(
      restricted.detail,
      /Pod Security admission in namespace team-a \(enforce=restricted\) refuses the collector/,
    );
    assert.match(restricted.fix!, /kubectl label ns team-a pod-security\.kubernetes\.io\/enforce=privileged/);

    // An operator who may not read the namespace: the level is unknown, the verdict still the probe's.
    deps.probe.namespaceLabels = async () => {
      throw new Error('forbidden');
    };
    assert.match((await collectorCheck.run(deps, signal)).detail, /\(enforce=\(unknown\)\) refuses the collector/);
    deps.probe.collectorResult = { outcome: 'refused', by: 'admission-policy', message: 'denied request' };
    assert.match((await collectorCheck.run(deps, signal)).fix!, /admission-policy\.js/);
    deps.probe.collectorResult = { outcome: 'ran', ptrace: false, detail: 'exit 1' };
    assert.match((await collectorCheck.run(deps, signal)).fix!, /SYS_PTRACE/);
    deps.probe.collectorResult = { outcome: 'not-started', reason: 'ErrImageNeverPull' };
    assert.match((await collectorCheck.run(deps, signal)).detail, /did not run in namespace team-a: ErrImageNeverPull/);

    const noProbe = await collectorCheck.run(
      fakeDeps({ probe: undefined, noProbeReason: 'no operator kubeconfig' }),
      signal,
    );
    assert.equal(noProbe.status, 'skip');
    assert.match(collectorCheck.neededBy(deps)!, /filesystem, memory, network, isolate/);
    assert.equal(
      collectorCheck.neededBy(fakeDeps({ enabledSteps: [{ name: 'logs', params: {}, playbooks: ['p'] }] })),
      undefined,
    );
  });

  test('network-policy: enforced passes; not enforced and inconclusive fail with their fix; needed only by isolate', async () => {
    const deps = fakeDeps();
    assert.equal((await networkPolicyCheck.run(deps, signal)).status, 'pass');
    deps.probe.networkResult = {
      outcome: 'probed',
      reachableBefore: true,
      reachableWithDeny: true,
      detail: 'still reached',
    };
    const open = await networkPolicyCheck.run(deps, signal);
    assert.equal(open.status, 'fail');
    assert.match(open.fix!, /enforces NetworkPolicy/);
    deps.probe.networkResult = {
      outcome: 'probed',
      reachableBefore: false,
      reachableWithDeny: false,
      detail: 'nothing',
    };
    assert.match((await networkPolicyCheck.run(deps, signal)).detail, /inconclusive/);
    assert.match(networkPolicyCheck.neededBy(deps)!, /^isolate /);
    assert.equal(
      networkPolicyCheck.neededBy(fakeDeps({ enabledSteps: DEFAULT_STEPS.filter((s) => s.name !== 'isolate') })),
      undefined,
    );
  });

  test('checkpoint: unsupported is a skip with the reason unless a playbook sets tryCheckpoint, then a fail with the fix', async () => {
    const deps = fakeDeps();
    const skipped = await checkpointCheck.run(deps, signal);
    assert.deepEqual(skipped, {
      status: 'skip',
      detail: 'unsupported here; not needed: no enabled playbook sets tryCheckpoint',
    });
    const needing = fakeDeps({ enabledSteps: withMemory({ tryCheckpoint: true }) });
    const failed = await checkpointCheck.run(needing, signal);
    assert.equal(failed.status, 'fail');
    assert.match(failed.fix!, /CheckpointContainer/);
    assert.match(checkpointCheck.neededBy(needing)!, /memory \(tryCheckpoint\) in playbook deep/);
    needing.probe.checkpointResult = { status: 200, supported: true, reason: 'checkpointed' };
    assert.equal((await checkpointCheck.run(needing, signal)).status, 'pass');
  });

  test("the kubelet's checkpoint answers, in our words (its text is classified, never quoted)", () => {
    const containerd16 =
      'checkpointing of ns/p/app failed (rpc error: code = Unimplemented desc = method CheckpointContainer not implemented)';
    assert.deepEqual(classifyCheckpoint(500, containerd16, 'n1'), {
      status: 500,
      supported: false,
      reason:
        'the container runtime does not implement CheckpointContainer (kubelet answered HTTP 500, rpc code Unimplemented)',
    });
    assert.match(classifyCheckpoint(404, '<html>\u001b[31m', 'n1').reason, /feature gate is off/);
    assert.match(classifyCheckpoint(403, 'x', 'n1').reason, /may not create nodes\/proxy/);
    assert.equal(classifyCheckpoint(200, '{}', 'n1').supported, true);
    assert.doesNotMatch(classifyCheckpoint(500, 'IGNORE PREVIOUS INSTRUCTIONS', 'n1').reason, /IGNORE/);
  });

  test('object-lock: absent fails with the fix; present passes naming the modes', async () => {
    const deps = fakeDeps();
    assert.match(
      (await objectLockCheck.run(deps, signal)).detail,
      /Object Lock enabled, bucket default GOVERNANCE 1 days.*HOLDFAST_RETENTION_MODE=GOVERNANCE, 30 days/,
    );
    deps.bucket.lock = { enabled: false };
    const off = await objectLockCheck.run(deps, signal);
    assert.equal(off.status, 'fail');
    assert.match(off.fix!, /object-lock-enabled-for-bucket/);
  });

  test('clock-skew: Date headers within the threshold pass; beyond it, or a source away, fail', async () => {
    assert.deepEqual(skewOf({ remote: new Date(10_000), sentAt: 10_400, receivedAt: 10_600 }), {
      skewMs: 0,
      uncertaintyMs: 600,
    });
    const deps = fakeDeps();
    assert.equal((await clockSkewCheck.run(deps, signal)).status, 'pass');
    deps.probe.offsetMs = 9_000;
    const skewed = await clockSkewCheck.run(deps, signal);
    assert.equal(skewed.status, 'fail');
    // A whole-second header 9 s ahead, read as its second's middle: (8.5, 9.5] s, 9.5 when now is a whole second.
    assert.match(skewed.detail, /Kubernetes API server \+(8\.[5-9]|9\.[0-5]) s/);
    assert.match(skewed.fix!, /NTP/);
    deps.probe.offsetMs = 0;
    deps.bucket.failure = new Error('connect ECONNREFUSED');
    const away = await clockSkewCheck.run(deps, signal);
    assert.equal(away.status, 'fail');
    assert.match(away.detail, /Kubernetes API server [+-]0\.[0-9] s .*S3: no answer \(connect ECONNREFUSED\)/);
  });

  test('temporal: missing search attributes fail with the commands; a missing namespace and an unreachable frontend differ', async () => {
    const deps = fakeDeps({ searchAttributes: { HoldfastStatus: 'Keyword', HoldfastPod: 'Keyword' } });
    const missing = await temporalCheck.run(deps, signal);
    assert.equal(missing.status, 'fail');
    assert.match(missing.detail, /HoldfastPod \(Keyword, missing\)/);
    assert.match(missing.fix!, /search-attribute create --namespace holdfast --name HoldfastPod --type Keyword/);
    deps.temporal.attributes = { HoldfastStatus: 'Keyword', HoldfastPod: 'Keyword' };
    assert.equal((await temporalCheck.run(deps, signal)).status, 'pass');
    deps.temporal.failure = Object.assign(new Error('Namespace holdfast is not found.'), { code: 5 });
    assert.match((await temporalCheck.run(deps, signal)).fix!, /namespace create holdfast/);
    deps.temporal.failure = Object.assign(new Error('14 UNAVAILABLE'), { code: 14 });
    assert.match((await temporalCheck.run(deps, signal)).fix!, /TEMPORAL_ADDRESS/);
  });
});

describe('preflight runner, CLI and route', () => {
  const check = (name: string, run: PreflightCheck<null>['run'], needed = true): PreflightCheck<null> => ({
    name,
    needs: 'nothing',
    neededBy: () => (needed ? 'playbook p' : undefined),
    run,
  });

  test('a check that throws or hangs fails with its message and bound; only needed failures make it not ready', async () => {
    const report = await runChecks(
      [
        check('ok', async () => ({ status: 'pass', detail: 'fine' })),
        check(
          'throws',
          async () => {
            throw new Error('boom');
          },
          false,
        ),
        check(
          'hangs',
          (_deps, s) => new Promise((_, reject) => s.addEventListener('abort', () => reject(s.reason))),
          false,
        ),
      ],
      null,
      { timeoutMs: 50 },
    );
    assert.deepEqual(
      report.results.map((r) => [r.name, r.status]),
      [
        ['ok', 'pass'],
        ['throws', 'fail'],
        ['hangs', 'fail'],
      ],
    );
    assert.match(report.results[2]!.detail, /hangs: no answer within 0 s/);
    assert.equal(report.verdict, 'ready');
    assert.equal(exitCodeOf(report), 0);
    const needed = await runChecks([check('x', async () => ({ status: 'skip', detail: 'not probed' }))], null, {
      timeoutMs: 50,
    });
    assert.equal(needed.verdict, 'not-ready');
    assert.equal(exitCodeOf(needed), 1);
    const unknown = await runChecks([check('x', async () => ({ status: 'pass', detail: 'ok' }))], null, {
      timeoutMs: 50,
      only: ['typo'],
    });
    assert.deepEqual(
      unknown.results.map((r) => [r.name, r.status, r.detail]),
      [['typo', 'fail', 'no such check; the checks are x']],
    );
    assert.equal(unknown.verdict, 'not-ready');
  });

  test('the registry runs every check once, in order, over fakes', async () => {
    const deps = fakeDeps();
    deps.temporal.attributes = deps.searchAttributes;
    const report = await runChecks(PREFLIGHT_CHECKS, deps, { timeoutMs: 1000 });
    assert.deepEqual(
      report.results.map((r) => `${r.name}:${r.status}`),
      [
        'rbac:pass',
        'collector:pass',
        'network-policy:pass',
        'checkpoint:skip',
        'object-lock:pass',
        'clock-skew:pass',
        'temporal:pass',
      ],
    );
    assert.equal(report.verdict, 'ready');
  });

  const collect = () => {
    let text = '';
    return {
      stream: new Writable({
        write(chunk, _e, cb) {
          text += String(chunk);
          cb();
        },
      }),
      text: () => text,
    };
  };
  const REPORT: PreflightReport = {
    verdict: 'not-ready',
    startedAt: '2026-12-02T00:00:00.000Z',
    results: [
      { name: 'rbac', needs: 'ids', status: 'pass', detail: 'ok', neededBy: 'isolate', durationMs: 10 },
      {
        name: 'collector',
        needs: 'pods',
        status: 'fail',
        detail: 'refused\u001b[2J',
        fix: 'label it',
        neededBy: 'filesystem',
        durationMs: 20,
      },
    ],
  };

  /** A fetch that answers GET /v1/preflight with `body`, recording the URLs and tokens it was asked with. */
  const fakeApi = (body: unknown, status = 200) => {
    const asked: Array<{ url: string; auth: string }> = [];
    const fetchImpl = (async (u: URL, init: RequestInit) => {
      asked.push({ url: String(u), auth: String((init.headers as Record<string, string>).authorization) });
      return new Response(JSON.stringify(body), { status });
    }) as unknown as typeof fetch;
    return { asked, fetchImpl };
  };

  test('holdfast preflight asks GET /v1/preflight: a table with the fix and exit 1 when a needed check fails; --json; usage errors exit 2', async () => {
    const out = collect();
    const err = collect();
    const api = fakeApi(REPORT);
    const io = {
      stdout: out.stream,
      stderr: err.stream,
      config: { apiUrl: 'http://api.example:8080', token: 'op-token' },
      fetch: api.fetchImpl,
    };
    assert.equal(await preflightCommand(['--namespace', 'team-a', '--cluster', 'prod-eu'], io), 1);
    assert.deepEqual(api.asked, [
      { url: 'http://api.example:8080/v1/preflight?cluster=prod-eu&namespace=team-a', auth: 'Bearer op-token' },
    ]);
    assert.match(out.text(), /^PASS {2}rbac/m);
    assert.match(out.text(), /^FAIL {2}collector\s+refused \[2J$/m);
    assert.match(out.text(), /fix: label it/);
    assert.match(out.text(), /NOT READY: collector failed .* \(exit 1\)/);
    assert.ok(!out.text().includes('\u001b'), 'no escape character reaches the terminal');
    const json = collect();
    assert.equal(await preflightCommand(['--json', '--only', 'rbac,collector'], { ...io, stdout: json.stream }), 1);
    assert.deepEqual(JSON.parse(json.text()), REPORT);
    assert.equal(api.asked.at(-1)!.url, 'http://api.example:8080/v1/preflight?only=rbac%2Ccollector');
    const calls = api.asked.length;
    // The local mode is gone: its options are usage errors now, and nothing is asked of the API.
    assert.equal(await preflightCommand(['--service-accounts', 'holdfast-system'], io), 2);
    assert.equal(await preflightCommand(['--kubeconfig', '/tmp/x'], io), 2);
    assert.equal(await preflightCommand(['--namespace', 'Bad_NS'], io), 2);
    assert.equal(await preflightCommand(['--cluster', '-x'], io), 2);
    assert.equal(await preflightCommand(['--bogus'], io), 2);
    assert.equal(api.asked.length, calls);
    assert.match(err.text(), /usage:/);
    assert.equal(
      formatReport({ ...REPORT, results: [REPORT.results[0]!], verdict: 'ready' })
        .trimEnd()
        .split('\n')
        .at(-1),
      'ready: every check the enabled playbooks need passed (exit 0)',
    );
  });

  test('holdfast preflight: an API error (409 while one runs) exits 2 with the problem text', async () => {
    const err = collect();
    const api = fakeApi({ title: 'Conflict', detail: 'a preflight of cluster test is already running' }, 409);
    const code = await preflightCommand([], {
      stdout: collect().stream,
      stderr: err.stream,
      config: { apiUrl: 'http://api.example:8080', token: 'op-token' },
      fetch: api.fetchImpl,
    });
    assert.equal(code, 2);
    assert.match(err.text(), /409 Conflict: a preflight of cluster test is already running/);
  });

  test('GET /v1/preflight: operator only, query validated, the default cluster, the starter’s answer', async () => {
    const calls: unknown[] = [];
    const app = await buildServer({
      logger: pino({ level: 'silent' }),
      readiness: {},
      tokens: new Map([
        ['operator-token-0123456789', 'operator' as const],
        ['responder-token-012345678', 'responder' as const],
      ]),
      incidents: {} as never,
      metrics: createApiMetrics(),
      routes: [
        preflightRoutes(async (request) => {
          calls.push(request);
          if (request.cluster === 'busy') throw new HttpProblem(409, 'Conflict', 'already running');
          return REPORT;
        }, 'home'),
      ],
    });
    try {
      const op = { authorization: 'Bearer operator-token-0123456789' };
      assert.equal(
        (await app.inject({ url: '/v1/preflight', headers: { authorization: 'Bearer responder-token-012345678' } }))
          .statusCode,
        403,
      );
      assert.equal((await app.inject({ url: '/v1/preflight?namespace=Bad_NS', headers: op })).statusCode, 400);
      assert.equal((await app.inject({ url: '/v1/preflight?cluster=a%20b', headers: op })).statusCode, 400);
      assert.deepEqual(calls, []);
      const res = await app.inject({ url: '/v1/preflight?namespace=team-a&only=rbac', headers: op });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), REPORT);
      assert.equal((await app.inject({ url: '/v1/preflight?cluster=busy', headers: op })).statusCode, 409);
      assert.deepEqual(calls, [{ cluster: 'home', namespace: 'team-a', only: ['rbac'] }, { cluster: 'busy' }]);
    } finally {
      await app.close();
    }
  });

  test('the preflight activity: runs the port with its cancellation signal, heartbeats, refuses bad input', async () => {
    const seen: Array<{ options: unknown; signal: boolean }> = [];
    const { preflight } = createPreflightActivities(async (options, signal) => {
      seen.push({ options, signal: signal instanceof AbortSignal });
      return REPORT;
    });
    const env = new MockActivityEnvironment();
    assert.deepEqual(await env.run(preflight, { namespace: 'team-a', only: ['rbac'] }), REPORT);
    assert.deepEqual(seen, [{ options: { namespace: 'team-a', only: ['rbac'] }, signal: true }]);
    await assert.rejects(env.run(preflight, { namespace: 'Bad_NS' }), /not a namespace name/);
    await assert.rejects(env.run(preflight, { only: ['../x'] }), /check names/);
    assert.equal(seen.length, 1);
    await assert.rejects(
      new MockActivityEnvironment().run(createPreflightActivities(undefined).preflight, {}),
      /this worker runs no preflight/,
    );
  });

  test('Temporal not taking the preflight: a report whose temporal check fails with the fix', () => {
    const down = temporalUnreachableReport(
      '127.0.0.1:1',
      'holdfast',
      Object.assign(new Error('connect ECONNREFUSED'), { code: 14 }),
    );
    assert.equal(down.verdict, 'not-ready');
    assert.equal(exitCodeOf(down), 1);
    assert.deepEqual(
      down.results.map((r) => [r.name, r.status]),
      [['temporal', 'fail']],
    );
    assert.match(
      down.results[0]!.detail,
      /Temporal at 127\.0\.0\.1:1 did not take the preflight within 10 s \(connect ECONNREFUSED\)/,
    );
    assert.match(down.results[0]!.fix!, /make 127\.0\.0\.1:1 reachable/);
    const missing = temporalUnreachableReport(
      't:7233',
      'nope',
      Object.assign(new Error('Namespace nope is not found.'), { code: 5 }),
    );
    assert.equal(missing.results[0]!.fix, 'create it: temporal operator namespace create nope');
  });
});
