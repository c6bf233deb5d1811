/**
 * Verified containment: after isolate, Holdfast proves it from the collector in the pod's network namespace.
 * The pure parts (peers, probe outcomes, tcp_info, capabilities, verdict), the check with a scripted collector,
 * the scripts themselves with the machine's busybox and ss, and the step that stores the verdict beside isolate.json.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { describe, test } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import { MockActivityEnvironment } from '@temporalio/testing';
import { parseInetTable, splitSections } from '../../adapters/kubernetes/captures/network-parse';
import type { ExecOutcome } from '../../adapters/kubernetes/collector/exec-stream';
import { VERIFY_OBSERVE, VERIFY_PROBE } from '../../adapters/kubernetes/collector/scripts';
import { SplitCluster } from '../../adapters/kubernetes/split';
import { checkIsolation, type ProbeCollector } from '../../adapters/kubernetes/verify/isolation';
import {
  choosePeers,
  classifyProbe,
  endpointCandidates,
  judge,
  judgeEstablished,
  parseEstablished,
  parseProbeLines,
  podAddresses,
  podCapabilities,
  reachableAfter,
  type Probe,
} from '../../adapters/kubernetes/verify/isolation-verdict';
import type { StepActivityInput, StepResult } from '../../activities/contract';
import { createStepActivities } from '../../activities/steps/activities';
import { FakeCluster } from '../fakes/cluster';
import { MemoryEvidenceStore } from '../fakes/evidence-store';

// ---- fixtures: the suspect pod 10.88.0.5 on node 10.88.0.1 ----

const POD: k8s.V1Pod = {
  metadata: { namespace: 'shop', name: 'web-1', uid: 'uid-web-1' },
  spec: { containers: [{ name: 'app' }] },
  status: { podIP: '10.88.0.5', podIPs: [{ ip: '10.88.0.5' }], hostIP: '10.88.0.1', hostIPs: [{ ip: '10.88.0.1' }] },
};
const ADDRESSES = podAddresses(POD);

/** An IPv4 address and port as /proc/net/tcp writes them (little-endian word, hex port). */
function procAddress(address: string, port: number): string {
  const hex = address
    .split('.')
    .map((b) => Number(b).toString(16).padStart(2, '0').toUpperCase())
    .reverse()
    .join('');
  return `${hex}:${port.toString(16).padStart(4, '0').toUpperCase()}`;
}
const TCP_STATE = { ESTABLISHED: '01', TIME_WAIT: '06', LISTEN: '0A', SYN_SENT: '02' } as const;
function tcpTable(rows: Array<[string, number, string, number, keyof typeof TCP_STATE]>): string {
  const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
  return [
    header,
    ...rows.map(
      ([la, lp, ra, rp, st], i) =>
        `   ${i}: ${procAddress(la, lp)} ${procAddress(ra, rp)} ${TCP_STATE[st]} 00000000:00000000 00:00000000 00000000     0        0 ${1000 + i} 1 0000000000000000 20 4 30 10 -1`,
    ),
  ].join('\n');
}

/** The pod's table: a reverse shell out to 203.0.113.9:4444, a connection to the db pod, an inbound client, local and node traffic. */
const TABLE = tcpTable([
  ['0.0.0.0', 8080, '0.0.0.0', 0, 'LISTEN'],
  ['10.88.0.5', 43210, '203.0.113.9', 4444, 'ESTABLISHED'],
  ['10.88.0.5', 43300, '10.88.0.7', 5432, 'TIME_WAIT'],
  ['10.88.0.5', 8080, '10.88.0.9', 50000, 'ESTABLISHED'],
  ['127.0.0.1', 40000, '127.0.0.1', 6379, 'ESTABLISHED'],
  ['10.88.0.5', 41000, '10.88.0.1', 10250, 'ESTABLISHED'],
  ['10.88.0.5', 42000, '10.88.0.8', 9000, 'SYN_SENT'],
  ['10.88.0.5', 43211, '203.0.113.9', 4444, 'ESTABLISHED'],
]);

const SLICES: k8s.V1EndpointSlice[] = [
  {
    addressType: 'IPv4',
    metadata: { name: 'db-abc', labels: { 'kubernetes.io/service-name': 'db' } },
    ports: [{ port: 5432, protocol: 'TCP' }],
    endpoints: [
      {
        addresses: ['10.88.0.7'],
        conditions: { ready: true },
        targetRef: { kind: 'Pod', name: 'db-0', uid: 'uid-db' },
      },
    ],
  },
  {
    addressType: 'IPv4',
    metadata: { name: 'web-xyz', labels: { 'kubernetes.io/service-name': 'web' } },
    ports: [{ port: 8080 }, { port: 53, protocol: 'UDP' }],
    endpoints: [
      { addresses: ['10.88.0.5'], targetRef: { kind: 'Pod', name: 'web-1', uid: 'uid-web-1' } },
      { addresses: ['10.88.0.6'], targetRef: { kind: 'Pod', name: 'web-2', uid: 'uid-web-2' } },
      { addresses: ['10.88.0.10'], conditions: { ready: false } },
    ],
  },
];

describe('peers', () => {
  test('outbound connections from the kernel table, established and in-cluster first; inbound, local and node traffic skipped', () => {
    const endpoints = endpointCandidates(SLICES, 'uid-web-1', ADDRESSES);
    assert.deepEqual(
      endpoints.map((e) => `${e.address}:${e.port} ${e.seenAs}`),
      ['10.88.0.7:5432 endpoint of service db (pod db-0)', '10.88.0.6:8080 endpoint of service web (pod web-2)'],
      'the pod itself, a not-ready endpoint and a UDP port are not candidates',
    );
    const { peers, skipped } = choosePeers(parseInetTable('tcp', TABLE), endpoints, ADDRESSES);
    assert.deepEqual(
      peers.map((p) => [`${p.address}:${p.port}`, p.source, p.reachableBefore, p.inCluster]),
      [
        ['203.0.113.9:4444', 'socket', true, false],
        ['10.88.0.7:5432', 'socket', true, true],
        ['10.88.0.6:8080', 'endpoint', null, true],
      ],
    );
    assert.equal(peers[1]!.seenAs, 'TIME_WAIT connection from local port 43300');
    assert.deepEqual(skipped.sort(), [
      '1 connection(s) not probed: local to the pod',
      "1 connection(s) not probed: the pod's node (always allowed)",
    ]);
  });

  test('bounded: at most the limits, one port per endpoint address', () => {
    const rows = Array.from(
      { length: 10 },
      (_, i) => ['10.88.0.5', 40000 + i, `10.88.1.${i}`, 443, 'ESTABLISHED'] as const,
    );
    const { peers } = choosePeers(
      parseInetTable('tcp', tcpTable(rows.map((r) => [...r]))),
      [
        { address: '10.88.2.1', port: 80, seenAs: 'a' },
        { address: '10.88.2.1', port: 81, seenAs: 'a' },
        { address: '10.88.2.2', port: 80, seenAs: 'b' },
        { address: '10.88.2.3', port: 80, seenAs: 'c' },
      ],
      ADDRESSES,
    );
    assert.deepEqual(
      peers.map((p) => `${p.address}:${p.port}`),
      ['10.88.1.0:443', '10.88.1.1:443', '10.88.1.2:443', '10.88.1.3:443', '10.88.2.1:80', '10.88.2.2:80'],
    );
  });

  test('IPv4-mapped peers are IPv4; anything that is not an IP literal never becomes a peer', () => {
    const table = parseInetTable(
      'tcp6',
      [
        'header',
        '   0: 0000000000000000FFFF00000500580A:A8CA 0000000000000000FFFF00000700580A:2328 01 00000000:00000000 00:00000000 00000000     0        0 1 1',
      ].join('\n'),
    );
    assert.deepEqual(
      choosePeers(table, [], ADDRESSES).peers.map((p) => `${p.address}:${p.port}`),
      ['10.88.0.7:9000'],
    );
    assert.deepEqual(
      endpointCandidates(
        [{ addressType: 'FQDN', endpoints: [{ addresses: ['evil.example; rm -rf /'] }], ports: [{ port: 1 }] }],
        undefined,
        ADDRESSES,
      ),
      [],
    );
  });
});

describe('probe outcomes', () => {
  const line = (exitCode: number, seconds: number, message: string) => ({
    address: '10.88.0.7',
    port: 5432,
    exitCode,
    seconds,
    message,
  });
  test('connected, a full timeout, refused, unreachable, other errors', () => {
    assert.equal(classifyProbe(line(0, 0.01, ''), 3).outcome, 'connected');
    assert.equal(classifyProbe(line(1, 3.0, 'nc: timed out'), 3).outcome, 'timeout');
    assert.equal(
      classifyProbe(line(1, 0.01, "nc: can't connect to remote host (10.88.0.7): Connection refused"), 3).outcome,
      'refused',
    );
    assert.equal(
      classifyProbe(line(1, 0.02, "nc: can't connect to remote host: Network is unreachable"), 3).outcome,
      'unreachable',
    );
    assert.equal(classifyProbe(line(1, 0.02, 'nc: bind: Address not available'), 3).outcome, 'error');
  });
  test('tampering: a "timed out" sooner than the timeout (SIGALRM), a signal, or no report at all is interrupted', () => {
    const early = classifyProbe(line(1, 0.3, 'nc: timed out'), 3);
    assert.equal(early.outcome, 'interrupted');
    assert.match(early.message, /before its 3 s timeout: signalled by another process/);
    assert.equal(classifyProbe(line(137, 5, ''), 3).outcome, 'interrupted');
    assert.equal(classifyProbe(line(143, 1, ''), 3).outcome, 'interrupted');
    assert.equal(classifyProbe(undefined, 3).outcome, 'interrupted');
  });
  test('a reset or ICMP error proves nothing when a process in the pod could forge it (CAP_NET_RAW); a timeout always does', () => {
    assert.equal(reachableAfter('refused', false), false);
    assert.equal(reachableAfter('refused', true), null);
    assert.equal(reachableAfter('unreachable', true), null);
    assert.equal(reachableAfter('timeout', true), false);
    assert.equal(reachableAfter('connected', true), true);
    assert.equal(reachableAfter('error', false), null);
  });
  test('probe lines: malformed ones are dropped, values bounded', () => {
    const lines = parseProbeLines(
      [
        '10.88.0.7\t5432\t1\t100.00\t103.01\tnc: timed out',
        'evil\t1\t0\t1\t2\tx',
        '10.88.0.7\t99999999\t0\t1\t2\tx',
        `::ffff:10.88.0.6\t8080\t0\t100.00\t100.01\t${'y'.repeat(500)}`,
      ].join('\n'),
    );
    assert.deepEqual(
      lines.map((l) => [l.address, l.port, l.exitCode, l.seconds, l.message.length]),
      [
        ['10.88.0.7', 5432, 1, 3.01, 13],
        ['10.88.0.6', 8080, 0, 0.01, 200],
      ],
    );
  });
});

// `ss -tinH state established` as iproute2 6.1 printed it on this machine; the second socket omits lastrcv/lastack (0 ms).
const SS = [
  '0      0      10.88.0.5:43210 203.0.113.9:4444',
  '\t bbr wscale:10,10 rto:204 rtt:0.054/0.029 mss:1448 cwnd:14 bytes_sent:12 lastsnd:480 lastrcv:2000 lastack:480 app_limited',
  '0      0      10.88.0.5:43300 [::ffff:10.88.0.7]:5432',
  '\t bbr wscale:10,10 rto:200 rtt:0.047/0.023 mss:1448 cwnd:10 bytes_acked:1 lastsnd:90000',
  '0      0      10.88.0.5:41000 10.88.0.1:10250',
  '\t cubic rto:200 lastsnd:10 lastrcv:10 lastack:10',
  '0      0      10.88.0.5:43211 203.0.113.9:4444',
  '\t cubic rto:204 lastsnd:95000 lastrcv:95000 lastack:95000',
  '0      0      garbage',
].join('\n');

describe('established connections', () => {
  test("tcp_info's last-heard times parse; a value ss omits is 0 (just now)", () => {
    const sockets = parseEstablished(SS);
    assert.deepEqual(
      sockets.map((s) => [s.remoteAddress, s.lastReceiveMs, s.lastAckMs]),
      [
        ['203.0.113.9', 2000, 480],
        ['10.88.0.7', 0, 0],
        ['10.88.0.1', 10, 10],
        ['203.0.113.9', 95000, 95000],
      ],
    );
  });
  test('heard from after isolation settled: not cut; the node is not judged; quiet ones prove nothing', () => {
    const finding = judgeEstablished(parseEstablished(SS), ADDRESSES, 3000);
    assert.deepEqual(
      finding.carriedTraffic.map((t) => [t.remote, t.lastPacketMs]),
      [
        ['203.0.113.9:4444', 480],
        ['[::ffff:10.88.0.7]:5432', 0],
      ],
    );
    assert.equal(finding.notJudged, 1);
    assert.equal(finding.quiet, 1);
    assert.equal(
      judgeEstablished(parseEstablished(SS), ADDRESSES, 0).carriedTraffic.length,
      0,
      'not watched: not judged',
    );
  });
});

describe('capabilities in the pod', () => {
  test('effective capabilities of the processes seen, other containers by their spec', () => {
    const pod: k8s.V1Pod = {
      ...POD,
      spec: {
        containers: [
          { name: 'app' },
          { name: 'vpn', securityContext: { capabilities: { add: ['NET_ADMIN'] } } },
          { name: 'sidecar', securityContext: { capabilities: { drop: ['ALL'] } } },
          { name: 'debug', securityContext: { privileged: true } },
        ],
      },
    };
    // pid 1: root's default set (CAP_NET_RAW, no NET_ADMIN); pid 7: CAP_NET_ADMIN; pid 9: nothing
    const caps = podCapabilities(
      '1 00000000a80425fb\n7 0000000000001000\n9 0000000000000000\nnot a line\n',
      pod,
      'app',
    );
    assert.equal(caps.processes, 3);
    assert.deepEqual(caps.canDropProbes, ['pid 7', 'container vpn (adds NET_ADMIN)', 'container debug (privileged)']);
    assert.deepEqual(caps.canForgeErrors, ['pid 1', 'container vpn', 'container debug']);
    const shared = podCapabilities('', { ...pod, spec: { ...pod.spec!, shareProcessNamespace: true } }, 'app');
    assert.deepEqual(shared.canDropProbes, [], 'with one PID namespace the processes speak for every container');
  });
  test('bounded lists', () => {
    const many = Array.from({ length: 50 }, (_, i) => `${i + 1} 0000000000001000`).join('\n');
    const caps = podCapabilities(many, POD, 'app');
    assert.equal(caps.canDropProbes.length, 21);
    assert.equal(caps.canDropProbes.at(-1), 'and 30 more');
  });
});

function probe(overrides: Partial<Probe>): Probe {
  return {
    address: '10.88.0.7',
    port: 5432,
    source: 'socket',
    seenAs: 'ESTABLISHED connection from local port 43300',
    reachableBefore: true,
    inCluster: true,
    outcome: 'timeout',
    reachableAfter: false,
    attempts: [{ round: 1, outcome: 'timeout', seconds: 3, message: 'nc: timed out' }],
    ...overrides,
  };
}
const QUIET = { watchedMs: 3000, total: 1, notJudged: 0, carriedTraffic: [], quiet: 1 };
const NO_CAPS = { canDropProbes: [], canForgeErrors: ['pid 1'], processes: 1 };

describe('verdict', () => {
  test('hostNetwork is not effective whatever else is known', () => {
    const v = judge({ hostNetwork: true, dryRun: true, probes: [] });
    assert.equal(v.verdict, 'not effective');
    assert.match(v.reason, /hostNetwork.*NetworkPolicy does not apply/);
  });
  test('effective: a peer known reachable before now times out, nothing connects, established ones quiet', () => {
    const v = judge({
      hostNetwork: false,
      dryRun: false,
      probes: [probe({})],
      established: QUIET,
      capabilities: NO_CAPS,
    });
    assert.equal(v.verdict, 'effective');
    assert.match(
      v.reason,
      /new connections to 1 peer\(s\) the pod had reached before isolation now fail: 10\.88\.0\.7:5432/,
    );
  });
  test('not effective: a probe still connects, even if the check was then cut short', () => {
    const v = judge({
      hostNetwork: false,
      dryRun: false,
      unavailable: 'exec refused',
      probes: [probe({ outcome: 'connected', reachableAfter: true })],
    });
    assert.equal(v.verdict, 'not effective');
    assert.match(v.reason, /still succeed after isolation: to 10\.88\.0\.7:5432/);
  });
  test('not effective: an established connection still heard from its peer after isolation', () => {
    const v = judge({
      hostNetwork: false,
      dryRun: false,
      probes: [probe({})],
      established: { ...QUIET, carriedTraffic: [{ local: 'a', remote: '203.0.113.9:4444', lastPacketMs: 100 }] },
    });
    assert.equal(v.verdict, 'not effective');
    assert.match(v.reason, /does not cut established connections/);
  });
  test('unverified: interrupted probes, peers not known reachable, no peers, a process that could drop probes, outside peers only', () => {
    const cases: Array<[Parameters<typeof judge>[0], RegExp]> = [
      [{ hostNetwork: false, dryRun: true, probes: [] }, /dry run/],
      [
        { hostNetwork: false, dryRun: false, unavailable: 'the collector is not available: x', probes: [] },
        /collector is not available/,
      ],
      [
        {
          hostNetwork: false,
          dryRun: false,
          probes: [probe({}), probe({ port: 1, outcome: 'interrupted', reachableAfter: null })],
        },
        /interrupted, possibly by a process in the pod/,
      ],
      [{ hostNetwork: false, dryRun: false, probes: [] }, /no peer to test/],
      [
        { hostNetwork: false, dryRun: false, probes: [probe({ source: 'endpoint', reachableBefore: null })] },
        /no probed peer was known to be reachable before isolation \(1 of 1/,
      ],
      [
        {
          hostNetwork: false,
          dryRun: false,
          probes: [probe({ outcome: 'refused', reachableAfter: null })],
          capabilities: NO_CAPS,
        },
        /no probed peer was known/,
      ],
      [
        {
          hostNetwork: false,
          dryRun: false,
          probes: [probe({})],
          capabilities: { ...NO_CAPS, canDropProbes: ['pid 7'] },
        },
        /pid 7 in the pod hold\(s\) CAP_NET_ADMIN/,
      ],
    ];
    for (const [input, reason] of cases) {
      const v = judge(input);
      assert.equal(v.verdict, 'unverified', reason.source);
      assert.match(v.reason, reason);
    }
    const outside = judge({ hostNetwork: false, dryRun: false, probes: [probe({ inCluster: false })] });
    assert.equal(outside.verdict, 'effective');
    assert.match(
      outside.reason,
      /none of them is a service endpoint in the pod's namespace \(an attacker running one could/,
    );
  });
});

// ---- the check with a scripted collector ----

type Scripted = { probe: (round: number, pairs: string[], nonce: string) => string };

function scripted(opts: Scripted & { table?: string; caps?: string }) {
  const argvs: string[][] = [];
  let round = 0;
  const done: ExecOutcome = { exitCode: 0, stderr: '', bytes: 0, truncated: false, timedOut: false };
  const collector: ProbeCollector = {
    info: { name: 'holdfast-collector', version: 'test', imageDigest: 'sha256:abc' },
    notes: [],
    targetContainer: 'app',
    async run(realArgv, bounds) {
      // The nonce and parameters travel on stdin, never in argv (the target reads /proc/<pid>/cmdline).
      assert.equal(realArgv.length, 4, realArgv.slice(3).join(' '));
      const argv = [...realArgv, ...(bounds.stdin ?? '').split(' ')];
      argvs.push(argv);
      const nonce = argv[4]!;
      const s = (name: string, body: string) => `=== ${nonce} ${name} ===\n${body}\n`;
      if (argv[2] === VERIFY_OBSERVE)
        return {
          stdout:
            s('tcp', opts.table ?? TABLE) + s('tcp6', '') + s('caps', opts.caps ?? '1 00000000a80425fb') + s('end', ''),
          outcome: done,
        };
      assert.equal(argv[2], VERIFY_PROBE);
      return { stdout: opts.probe(++round, argv.slice(7), nonce), outcome: done };
    },
  };
  return { collector, argvs };
}

/** The probe script's output: each pair answered by `answer`, then the sample of established connections. */
function probeOutput(
  nonce: string,
  pairs: string[],
  answer: (address: string) => string,
  ss = '',
  elapsed = 5.2,
): string {
  const lines: string[] = [];
  for (let i = 0; i < pairs.length; i += 2) lines.push(`${pairs[i]}\t${pairs[i + 1]}\t${answer(pairs[i]!)}`);
  const s = (name: string, body: string) => `=== ${nonce} ${name} ===\n${body}\n`;
  return (
    s('start', '100.00') +
    s('probes', lines.join('\n')) +
    s('sampled', (100 + elapsed).toFixed(2)) +
    s('established', ss) +
    s('end', '')
  );
}
const TIMED_OUT = '1\t100.00\t103.00\tnc: timed out';
const CONNECTED = '0\t100.00\t100.01\t';

function fakeClock(start = 1_000_000) {
  let now = start;
  const slept: number[] = [];
  return {
    slept,
    clock: {
      now: () => now,
      async sleep(ms: number) {
        slept.push(ms);
        now += ms;
      },
    },
  };
}

function input(collector: () => Promise<ProbeCollector>, extra: Partial<Parameters<typeof checkIsolation>[0]> = {}) {
  const { clock, slept } = fakeClock();
  return {
    slept,
    input: {
      pod: POD,
      dryRun: false,
      appliedAt: clock.now(),
      probeSeconds: 3,
      endpointSlices: async () => SLICES,
      collector,
      clock,
      ...extra,
    },
  };
}

describe('the check, with a scripted collector', () => {
  test('effective: the peers time out, established connections are quiet; the record says what and how', async () => {
    const { collector, argvs } = scripted({
      probe: (_round, pairs, nonce) =>
        probeOutput(
          nonce,
          pairs,
          () => TIMED_OUT,
          '0 0 10.88.0.5:43210 203.0.113.9:4444\n\t cubic rto:204 lastsnd:9000 lastrcv:9000 lastack:9000',
        ),
    });
    const { input: i, slept } = input(async () => collector);
    const check = await checkIsolation(i);
    assert.equal(check.verdict, 'effective', check.reason);
    assert.equal(argvs.length, 2, 'one look at the socket table, one round of probes');
    // Only validated IP literals and ports reach the script; the sample waits out settle + watch (5 s) after isolation.
    assert.deepEqual(argvs[1]!.slice(5), ['3', '5.0', '203.0.113.9', '4444', '10.88.0.7', '5432', '10.88.0.6', '8080']);
    assert.deepEqual(slept, []);
    const record = check.artifact.record as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(check.artifact.name, 'containment-verification.json');
    assert.equal(check.artifact.collector.imageDigest, 'sha256:abc');
    assert.equal(record.schema, 'holdfast.containment-verification/v1');
    assert.deepEqual(
      record.probes.map((p: Probe) => [p.address, p.port, p.reachableBefore, p.reachableAfter, p.outcome]),
      [
        ['203.0.113.9', 4444, true, false, 'timeout'],
        ['10.88.0.7', 5432, true, false, 'timeout'],
        ['10.88.0.6', 8080, null, false, 'timeout'],
      ],
    );
    assert.equal(record.established.watchedMs, 3200);
    assert.equal(record.established.quiet, 1);
    assert.ok(record.limits.length >= 5);
    assert.ok(check.notes.some((n) => /1 connection\(s\) from before isolation are still open and were quiet/.test(n)));
  });

  test('a probe that connects at first but not once the enforcer caught up: retried, effective', async () => {
    const { collector, argvs } = scripted({
      probe: (round, pairs, nonce) => probeOutput(nonce, pairs, () => (round === 1 ? CONNECTED : TIMED_OUT)),
    });
    const { input: i, slept } = input(async () => collector);
    const check = await checkIsolation(i);
    assert.equal(check.verdict, 'effective', check.reason);
    assert.deepEqual(slept, [2000]);
    assert.equal(argvs.length, 3);
    const probes = (check.artifact.record as { probes: Probe[] }).probes;
    assert.deepEqual(
      probes[0]!.attempts.map((a) => [a.round, a.outcome]),
      [
        [1, 'connected'],
        [2, 'timeout'],
      ],
    );
  });

  test('not effective: a CNI that does not enforce (every probe connects, four rounds over ten seconds)', async () => {
    const { collector } = scripted({ probe: (_r, pairs, nonce) => probeOutput(nonce, pairs, () => CONNECTED) });
    const { input: i, slept } = input(async () => collector);
    const check = await checkIsolation(i);
    assert.equal(check.verdict, 'not effective');
    assert.match(check.reason, /to 203\.0\.113\.9:4444 .* \(4 attempt\(s\), the last 10 s after isolation\)/);
    assert.deepEqual(slept, [2000, 3000, 5000]);
  });

  test('not effective: new connections blocked, but an established one keeps talking', async () => {
    const { collector } = scripted({
      probe: (_r, pairs, nonce) =>
        probeOutput(
          nonce,
          pairs,
          () => TIMED_OUT,
          '0 0 10.88.0.5:43210 203.0.113.9:4444\n\t cubic rto:204 lastsnd:200 lastack:200 lastrcv:700',
        ),
    });
    const check = await checkIsolation(input(async () => collector).input);
    assert.equal(check.verdict, 'not effective');
    assert.match(check.reason, /still carried traffic after it \(to 203\.0\.113\.9:4444\)/);
  });

  test('unverified: a process in the pod signals the probes (nc says "timed out" at once)', async () => {
    const { collector } = scripted({
      probe: (_r, pairs, nonce) =>
        probeOutput(nonce, pairs, (a) => (a === '10.88.0.7' ? '1\t100.00\t100.20\tnc: timed out' : TIMED_OUT)),
    });
    const check = await checkIsolation(input(async () => collector).input);
    assert.equal(check.verdict, 'unverified');
    assert.match(check.reason, /interrupted.*10\.88\.0\.7:5432.*before its 3 s timeout/);
  });

  test('hostNetwork: not effective without any collector; dry run and verify: false: unverified without one', async () => {
    const never = async (): Promise<ProbeCollector> => assert.fail('no collector is needed');
    const host = await checkIsolation(
      input(never, { pod: { ...POD, spec: { ...POD.spec!, hostNetwork: true } } }).input,
    );
    assert.equal(host.verdict, 'not effective');
    assert.equal(host.artifact.method, 'kubernetes-api: the pod spec (nothing was probed)');
    assert.equal((host.artifact.record as { pod: { hostNetwork: boolean } }).pod.hostNetwork, true);
    assert.equal((await checkIsolation(input(never, { dryRun: true }).input)).verdict, 'unverified');
    const off = await checkIsolation(input(never, { disabled: true }).input);
    assert.equal(off.verdict, 'unverified');
    assert.match(off.reason, /turned off/);
  });

  test('the collector cannot be added: unverified with the reason; a cancelled activity is not a verdict', async () => {
    const failed = await checkIsolation(
      input(async () => {
        throw new Error('pods "web-1" is forbidden: violates PodSecurity "restricted"');
      }).input,
    );
    assert.equal(failed.verdict, 'unverified');
    assert.match(failed.reason, /collector is not available: pods "web-1" is forbidden/);
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      checkIsolation(
        input(
          async () => {
            throw new Error('cancelled');
          },
          { signal: controller.signal },
        ).input,
      ),
      /cancelled/,
    );
  });

  test('service endpoints that cannot be listed: the pod’s own connections are probed all the same', async () => {
    const { collector } = scripted({ probe: (_r, pairs, nonce) => probeOutput(nonce, pairs, () => TIMED_OUT) });
    const check = await checkIsolation(
      input(async () => collector, {
        endpointSlices: async () => {
          throw new Error('endpointslices is forbidden');
        },
      }).input,
    );
    assert.equal(check.verdict, 'effective');
    assert.ok(check.notes.some((n) => /service endpoints could not be listed: endpointslices is forbidden/.test(n)));
  });
});

// ---- the scripts themselves, with this machine's busybox and ss (the collector image copies the same binaries) ----

const TOOLS = fs.existsSync('/bin/busybox') && fs.existsSync('/usr/bin/ss');

/** Runs a script as the collector does: its one stdin line (nonce, parameters) on stdin, not in argv. */
function runScript(script: string, stdinWords: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('/bin/busybox', ['sh', '-c', script, 'holdfast-test'], { timeout: 20_000 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
    child.stdin!.end(`${stdinWords.join(' ')}\n`);
  });
}

describe(
  'the collector scripts with real busybox and ss',
  { skip: TOOLS ? false : 'needs /bin/busybox and /usr/bin/ss' },
  () => {
    test('probes: one connects, one is refused; the established connection is sampled; the socket table lists the listener', async () => {
      const server = net.createServer((socket) => socket.on('error', () => undefined));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const open = (server.address() as net.AddressInfo).port;
      const closed = net.createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const closedPort = (closed.address() as net.AddressInfo).port;
      await new Promise((resolve) => closed.close(resolve));
      const client = net.connect(open, '127.0.0.1');
      await new Promise((resolve) => client.once('connect', resolve));
      try {
        const nonce = crypto.randomBytes(8).toString('hex');
        const out = await runScript(VERIFY_PROBE, [
          nonce,
          '2',
          '0.3',
          '127.0.0.1',
          String(open),
          '127.0.0.1',
          String(closedPort),
        ]);
        const sections = splitSections(out, nonce);
        assert.deepEqual([...sections.keys()], ['start', 'probes', 'sampled', 'established', 'end']);
        const lines = new Map(
          parseProbeLines(sections.get('probes')!).map((l) => [l.port, classifyProbe(l, 2).outcome]),
        );
        assert.equal(lines.get(open), 'connected');
        assert.equal(lines.get(closedPort), 'refused');
        assert.ok(
          Number(sections.get('sampled')) - Number(sections.get('start')) >= 0.29,
          'held until the sample time',
        );
        const established = parseEstablished(sections.get('established')!);
        assert.ok(
          established.some((s) => s.remote === `127.0.0.1:${open}` && s.lastAckMs < 60_000),
          sections.get('established'),
        );

        const observed = splitSections(await runScript(VERIFY_OBSERVE, [nonce]), nonce);
        assert.ok(observed.has('end'));
        const table = parseInetTable('tcp', observed.get('tcp')!);
        assert.ok(table.some((s) => s.state === 'LISTEN' && s.local?.port === open));
        assert.ok(table.some((s) => s.state === 'ESTABLISHED' && s.remote?.port === open));
      } finally {
        client.destroy();
        await new Promise((resolve) => server.close(resolve));
      }
    });
  },
);

// ---- the isolate step: the verdict beside isolate.json, never a failed step ----

describe('the isolate step', () => {
  const target = { cluster: 'test', namespace: 'shop', pod: 'web-1', container: 'app' };
  const stepInput: StepActivityInput = { incidentId: 'inc-verify', target, dryRun: false, params: {} };
  const run = (cluster: FakeCluster, evidence: MemoryEvidenceStore, name: 'step.isolate' | 'step.cordon') =>
    new MockActivityEnvironment().run(
      createStepActivities({ cluster, evidence })[name]!,
      stepInput,
    ) as Promise<StepResult>;

  test('not effective: the verdict travels in the result, loud in the notes, and is stored as evidence', async () => {
    const cluster = new FakeCluster({
      verifications: { isolate: { verdict: 'not effective', reason: 'the pod uses hostNetwork' } },
    });
    const evidence = new MemoryEvidenceStore();
    const result = await run(cluster, evidence, 'step.isolate');
    assert.deepEqual(result.verification, { verdict: 'not effective', reason: 'the pod uses hostNetwork' });
    assert.deepEqual(
      result.artifacts.map((a) => a.key),
      ['incidents/inc-verify/contain/isolate.json', 'incidents/inc-verify/contain/containment-verification.json'],
    );
    assert.ok(result.notes.includes('CONTAINMENT NOT EFFECTIVE: the pod uses hostNetwork'));
    const stored = evidence.objects.get('incidents/inc-verify/contain/containment-verification.json')!;
    assert.equal(stored.ref.collector.name, 'fake-collector');
    assert.deepEqual(stored.ref.notes, ['CONTAINMENT NOT EFFECTIVE: the pod uses hostNetwork']);
    assert.equal(JSON.parse(stored.body.toString()).verdict, 'not effective');
    const isolateJson = evidence.objects.get('incidents/inc-verify/contain/isolate.json')!;
    assert.ok(
      !isolateJson.ref.notes.some((n) => n.includes('NOT EFFECTIVE')),
      "isolate.json keeps the action's own notes",
    );
    assert.deepEqual(
      cluster.calls.map((c) => c.op),
      ['isolate', 'verify.isolate'],
    );
  });

  test('a check that throws makes the verdict unverified; the isolation itself stays recorded as done', async () => {
    const cluster = new FakeCluster({ failures: { 'verify.isolate': new Error('exec refused') } });
    const result = await run(cluster, new MemoryEvidenceStore(), 'step.isolate');
    assert.equal(result.changed, true);
    assert.deepEqual(result.verification, { verdict: 'unverified', reason: 'the check failed: exec refused' });
    assert.equal(result.artifacts.length, 2);
  });

  test('an action without a check (cordon) has no verdict', async () => {
    const cluster = new FakeCluster();
    const result = await run(cluster, new MemoryEvidenceStore(), 'step.cordon');
    assert.equal(result.verification, undefined);
    assert.equal(cluster.count('verify.cordon'), 0);
  });

  test('SplitCluster checks as the capture identity (it execs in the collector)', async () => {
    const capturing = new FakeCluster();
    const containing = new FakeCluster();
    const opts = { incidentId: 'inc-verify', dryRun: false, params: {}, appliedAt: 0 };
    await new SplitCluster(capturing, containing).verify('isolate', { kind: 'pod', pod: target }, opts);
    assert.deepEqual(
      capturing.calls.map((c) => c.op),
      ['verify.isolate'],
    );
    assert.equal(containing.calls.length, 0);
  });
});
