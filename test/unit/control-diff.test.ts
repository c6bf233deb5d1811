import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, test } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import * as tar from 'tar-stream';
import {
  diffSnapshots,
  socketKeys,
  type FileEntry,
  type PodSnapshot,
  type SocketRow,
} from '../../adapters/kubernetes/control/diff';
import { tarLister } from '../../adapters/kubernetes/control/listing';
import { chooseControl, selectorOf, templateOf, type Template } from '../../adapters/kubernetes/control/sibling';
import type { Kube } from '../../adapters/kubernetes/kube';
import { IncidentState } from '../../workflows/incident-state';
import { parsePlaybooks } from '../../activities/playbooks';
import { sampleAlert } from '../helpers/incident-harness';

const sha = (text: string) => crypto.createHash('sha256').update(text).digest('hex');
const file = (path: string, content: string, extra: Partial<FileEntry> = {}): FileEntry => ({
  path,
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  size: content.length,
  sha256: sha(content),
  ...extra,
});
const dir = (path: string, extra: Partial<FileEntry> = {}): FileEntry => ({
  path,
  type: 'directory',
  mode: 0o755,
  uid: 0,
  gid: 0,
  size: 0,
  ...extra,
});
const tcp = (state: string, local: string, lport: number, remote: string, rport: number): SocketRow => ({
  protocol: 'tcp',
  state,
  local: { address: local, port: lport },
  remote: { address: remote, port: rport },
});

/** What one clean pod of the template looks like; `ip` and `pidBase` differ per pod, as they do in a cluster. */
function cleanPod(name: string, ip: string, pidBase: number): PodSnapshot {
  const image: FileEntry[] = [
    dir('/'),
    dir('/bin'),
    file('/bin/busybox', '\x7fELF-busybox', { mode: 0o755, elf: true }),
    { path: '/bin/sh', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, linkname: '/bin/busybox' },
    dir('/etc'),
    file('/etc/passwd', 'root:x:0:0::/root:/bin/sh\n'),
    dir('/tmp', { mode: 0o1777 }),
    dir('/var/log'),
    // kubelet-written, per pod: never an attacker's change
    file('/etc/hostname', `${name}\n`, { runtime: true }),
    file('/etc/hosts', `${ip} ${name}\n`, { runtime: true }),
    // the app's own log, written at runtime in every pod
    file('/var/log/app.log', `started ${name}\n`, { runtime: true }),
  ];
  return {
    pod: name,
    podIPs: [ip],
    files: image,
    processes: [
      { pid: pidBase, uid: 0, exe: '/bin/busybox', cmdline: 'httpd -f -p 8080' },
      { pid: pidBase + 7, uid: 0, exe: '/bin/busybox', cmdline: 'sleep 100000' },
    ],
    sockets: [
      tcp('LISTEN', '0.0.0.0', 8080, '0.0.0.0', 0),
      // a client of the service (another pod), and an outbound connection every pod holds (its database)
      tcp('ESTABLISHED', ip, 8080, '10.88.0.50', 40000 + pidBase),
      tcp('ESTABLISHED', ip, 33000 + pidBase, '10.88.0.60', 5432),
      // closed leftovers differ per pod
      tcp('TIME_WAIT', ip, 34000 + pidBase, '10.88.0.61', 443),
    ],
    incomplete: [],
  };
}

describe('control sample diff', () => {
  test('names exactly what the attacker changed, and none of what differs between two clean pods', () => {
    const control = cleanPod('web-b', '10.88.0.12', 40);
    const suspect = cleanPod('web-a', '10.88.0.11', 300);
    suspect.files.push(
      file('/tmp/implant', 'payload', { mode: 0o755, runtime: true }),
      file('/tmp/.hidden', 'x', { runtime: true }),
    );
    suspect.files = suspect.files.map((f) =>
      f.path === '/bin/busybox'
        ? { ...f, sha256: sha('trojaned'), runtime: true }
        : f.path === '/etc/passwd'
          ? { ...f, mode: 0o666, runtime: true }
          : f,
    );
    suspect.processes.push({ pid: 999, uid: 0, exe: '/tmp/implant', cmdline: '/tmp/implant -c 10.0.0.9' });
    suspect.sockets.push(tcp('ESTABLISHED', '10.88.0.11', 45678, '203.0.113.9', 4444));

    const diff = diffSnapshots(suspect, control);
    assert.equal(
      diff.summary,
      '2 files added, 1 binary changed, 1 permission/owner change, 1 process not in the control, 1 outbound connection not in the control',
    );
    assert.deepEqual(
      diff.filesAdded.map((f) => f.path),
      ['/tmp/.hidden', '/tmp/implant'],
    );
    assert.deepEqual(
      diff.contentChanged.map((f) => [f.path, f.binary]),
      [['/bin/busybox', true]],
    );
    assert.deepEqual(diff.permissionChanged, [{ path: '/etc/passwd', suspect: '0666 0:0', control: '0644 0:0' }]);
    assert.deepEqual(
      diff.processesOnlyInSuspect.map((p) => [p.exe, p.cmdline, p.pids]),
      [['/tmp/implant', '/tmp/implant -c 10.0.0.9', [999]]],
    );
    assert.deepEqual(diff.connectionsOnlyInSuspect, [
      { direction: 'outbound', protocol: 'tcp', state: 'ESTABLISHED', peer: '203.0.113.9', port: 4444 },
    ]);
    assert.deepEqual(diff.listenersOnlyInSuspect, []);
    assert.deepEqual(diff.removedFromSuspect, []);
    // the app's log differs but both pods wrote it at runtime: listed apart, not counted
    assert.deepEqual(
      diff.writtenAtRuntimeInBoth.map((f) => f.path),
      ['/var/log/app.log'],
    );
    assert.equal(diff.counts.writtenAtRuntimeInBoth, 1);
  });

  test('two clean pods compare equal', () => {
    const diff = diffSnapshots(cleanPod('web-a', '10.88.0.11', 300), cleanPod('web-b', '10.88.0.12', 40));
    assert.equal(diff.summary, 'no difference from the control');
    assert.equal(diff.bounded.length, 0);
  });

  test('a listener, an inbound connection to it, a deleted image file and an owner change are named', () => {
    const control = cleanPod('web-b', '10.88.0.12', 40);
    const suspect = cleanPod('web-a', '10.88.0.11', 300);
    suspect.files = suspect.files.filter((f) => f.path !== '/etc/passwd');
    suspect.files = suspect.files.map((f) => (f.path === '/tmp' ? { ...f, uid: 1000 } : f));
    suspect.sockets.push(tcp('LISTEN', '::', 31337, '::', 0), {
      protocol: 'tcp6',
      state: 'ESTABLISHED',
      local: { address: '::ffff:10.88.0.11', port: 31337 },
      remote: { address: '::ffff:198.51.100.7', port: 51234 },
    });
    const diff = diffSnapshots(suspect, control);
    assert.equal(
      diff.summary,
      '1 permission/owner change, 1 image file missing, 1 listening socket not in the control, 1 inbound connection not in the control',
    );
    assert.deepEqual(diff.listenersOnlyInSuspect, [{ protocol: 'tcp', address: '*', port: 31337 }]);
    assert.deepEqual(diff.connectionsOnlyInSuspect, [
      { direction: 'inbound', protocol: 'tcp', state: 'ESTABLISHED', peer: '198.51.100.7', port: 31337 },
    ]);
    assert.deepEqual(
      diff.removedFromSuspect.map((f) => f.path),
      ['/etc/passwd'],
    );
  });

  test("socket keys never use pids, ephemeral ports or the pod's own address", () => {
    const a = socketKeys({
      podIPs: ['10.88.0.11'],
      sockets: [
        tcp('ESTABLISHED', '10.88.0.11', 50001, '10.88.0.11', 8080),
        tcp('LISTEN', '10.88.0.11', 8080, '0.0.0.0', 0),
      ],
    });
    const b = socketKeys({
      podIPs: ['10.88.0.12'],
      sockets: [
        tcp('ESTABLISHED', '10.88.0.12', 60002, '10.88.0.12', 8080),
        tcp('LISTEN', '10.88.0.12', 8080, '0.0.0.0', 0),
      ],
    });
    assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
    assert.ok([...a.keys()].includes('listen|tcp|<pod-ip>|8080'));
  });

  test('hostile names (newlines, control characters, escape sequences) stay data: the summary is counts only', () => {
    const control = cleanPod('web-b', '10.88.0.12', 40);
    const suspect = cleanPod('web-a', '10.88.0.11', 300);
    const names = [
      '/tmp/a\nb',
      '/tmp/\u001b[2J\u001b[31mCONTAINMENT VERIFIED\u001b[0m',
      '/tmp/\r\u0000\u0007bell',
      '/tmp/..\u202e3pm.exe',
      '/etc/hostname\n', // not the kubelet's file: a lookalike the attacker dropped
    ];
    for (const name of names) suspect.files.push(file(name, name, { runtime: true }));
    suspect.processes.push({ pid: 5, exe: '/tmp/x\n/bin/busybox', cmdline: 'httpd -f -p 8080\u001b[1A' });
    const diff = diffSnapshots(suspect, control);
    assert.equal(diff.summary, '5 files added, 1 process not in the control');
    assert.match(diff.summary, /^[\x20-\x7e]*$/);
    assert.deepEqual(diff.filesAdded.map((f) => f.path).sort(), [...names].sort());
    const json = JSON.stringify(diff);
    assert.ok(
      [...json].every((ch) => ch.charCodeAt(0) >= 0x20),
      'JSON escapes every C0 control character (newline, ESC, NUL)',
    );
    assert.deepEqual(
      JSON.parse(json)
        .filesAdded.map((f: { path: string }) => f.path)
        .sort(),
      [...names].sort(),
    );
  });

  test('huge lists are bounded: counts complete, lists cut at maxListed, inputs cut at maxInput, fast', () => {
    const control = cleanPod('web-b', '10.88.0.12', 40);
    const suspect = cleanPod('web-a', '10.88.0.11', 300);
    const many = 300_000;
    for (let i = 0; i < many; i++) suspect.files.push(file(`/tmp/d/${i}`, String(i), { runtime: true }));
    for (let i = 0; i < 50_000; i++)
      suspect.processes.push({ pid: 10_000 + i, exe: '/tmp/fork', cmdline: `fork ${i}` });
    for (let i = 0; i < 50_000; i++)
      suspect.sockets.push(tcp('ESTABLISHED', '10.88.0.11', 20000 + (i % 40000), '192.0.2.1', i % 65536));
    const started = Date.now();
    const diff = diffSnapshots(suspect, control, { maxListed: 100, maxInput: 1_000_000 });
    const took = Date.now() - started;
    assert.equal(diff.counts.filesAdded, many);
    assert.equal(diff.filesAdded.length, 100);
    assert.equal(diff.processesOnlyInSuspect.length, 100);
    assert.equal(diff.counts.processesOnlyInSuspect, 50_000);
    assert.equal(diff.counts.outboundOnlyInSuspect, 50_000);
    assert.ok(
      diff.bounded.some((n) => n.startsWith('files added: 300000 found, the first 100 listed')),
      diff.bounded.join('; '),
    );
    assert.ok(took < 10_000, `took ${took} ms`);

    const capped = diffSnapshots(suspect, control, { maxListed: 10, maxInput: 1000 });
    assert.ok(
      capped.bounded.some((n) => n.startsWith('suspect files:')),
      capped.bounded.join('; '),
    );
    assert.ok(capped.counts.filesAdded <= 1000);
  });

  test('an incomplete snapshot says so in the summary', () => {
    const suspect = cleanPod('web-a', '10.88.0.11', 300);
    suspect.incomplete.push('tar: stopped at the bound of 1024 bytes');
    const diff = diffSnapshots(suspect, cleanPod('web-b', '10.88.0.12', 40));
    assert.equal(diff.summary, 'no difference from the control (comparison incomplete: see control/diff.json)');
    assert.deepEqual(diff.bounded, ['suspect: tar: stopped at the bound of 1024 bytes']);
  });
});

async function tarOf(
  entries: Array<{ header: Partial<tar.Header> & { name: string }; body?: string }>,
): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) pack.entry(e.header as tar.Header, e.body ?? '');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('tar listing', () => {
  test('hashes files, resolves hard links, keeps odd names and symlink targets, marks runtime writes by ctime', async () => {
    const odd = './tmp/x\n\u001b[31my';
    const archive = await tarOf([
      { header: { name: './', type: 'directory', mode: 0o755 } },
      { header: { name: './bin/tool', mode: 0o4755, uid: 0, gid: 0, pax: { ctime: '100.5' } }, body: '\x7fELFtool' },
      { header: { name: './bin/same', type: 'link', linkname: './bin/tool', pax: { ctime: '100' } } },
      { header: { name: './bin/sh', type: 'symlink', linkname: 'tool', pax: { ctime: '100' } } },
      { header: { name: odd, mode: 0o600, uid: 1000, gid: 1000, pax: { ctime: '2000' } }, body: 'dropped' },
    ]);
    const lister = tarLister(1000, 100);
    await pipeline(Readable.from([archive]), lister.sink);
    const { entries, incomplete, scanned } = await lister.listing();
    assert.deepEqual(incomplete, []);
    assert.equal(scanned, 5);
    const by = new Map(entries.map((e) => [e.path, e]));
    assert.equal(by.get('/bin/tool')!.sha256, sha('\x7fELFtool'));
    assert.equal(by.get('/bin/tool')!.elf, true);
    assert.equal(by.get('/bin/tool')!.mode, 0o4755);
    assert.equal(by.get('/bin/tool')!.runtime, undefined);
    assert.equal(by.get('/bin/same')!.sha256, sha('\x7fELFtool'), 'a hard link has its target content');
    assert.equal(by.get('/bin/sh')!.linkname, 'tool');
    const dropped = by.get('/tmp/x\n\u001b[31my')!;
    assert.equal(dropped.sha256, sha('dropped'));
    assert.equal(dropped.runtime, true);
    assert.equal(by.get('/')!.type, 'directory');
  });

  test('a truncated archive and an entry bound are reported, never thrown', async () => {
    const archive = await tarOf(
      Array.from({ length: 20 }, (_, i) => ({ header: { name: `./f${i}` }, body: 'x'.repeat(600) })),
    );
    const cut = tarLister(undefined, 5);
    await pipeline(Readable.from([archive.subarray(0, 4000)]), cut.sink);
    const partial = await cut.listing();
    assert.ok(
      partial.incomplete.some((n) => /truncated/.test(n)),
      partial.incomplete.join('; '),
    );
    assert.ok(partial.entries.length <= 5);

    const bounded = tarLister(undefined, 5);
    await pipeline(Readable.from([archive]), bounded.sink);
    const listing = await bounded.listing();
    assert.equal(listing.entries.length, 5);
    assert.equal(listing.scanned, 20);
    assert.deepEqual(listing.incomplete, ['20 entries, the first 5 listed']);
  });

  test('garbage is not an archive: reported as unreadable', async () => {
    const lister = tarLister(undefined, 5);
    await pipeline(Readable.from([Buffer.alloc(2048, 0x41)]), lister.sink);
    const listing = await lister.listing();
    assert.equal(listing.entries.length, 0);
    assert.ok(listing.incomplete.length > 0);
  });
});

const OWNER_UID = 'rs-uid-1';
const DIGEST = `sha256:${'a'.repeat(64)}`;
function pod(
  name: string,
  extra: {
    uid?: string;
    hash?: string;
    owner?: string;
    digest?: string;
    ready?: boolean;
    created?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deleting?: boolean;
  } = {},
): k8s.V1Pod {
  return {
    metadata: {
      name,
      namespace: 'shop',
      uid: extra.uid ?? `uid-${name}`,
      creationTimestamp: new Date(extra.created ?? '2026-12-02T10:00:00Z'),
      labels: { app: 'web', 'pod-template-hash': extra.hash ?? 'abc123', ...(extra.labels ?? {}) },
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: 'web-abc123',
          uid: extra.owner ?? OWNER_UID,
          controller: true,
        },
      ],
      ...(extra.deleting ? { deletionTimestamp: new Date() } : {}),
    },
    spec: { containers: [{ name: 'app', image: 'busybox:local' }] },
    status: {
      phase: 'Running',
      podIPs: [{ ip: '10.88.0.9' }],
      conditions: [{ type: 'Ready', status: extra.ready === false ? 'False' : 'True' }],
      containerStatuses: [
        {
          name: 'app',
          image: 'busybox:local',
          imageID: `docker.io/holdfast/busybox@${extra.digest ?? DIGEST}`,
          ready: extra.ready !== false,
          restartCount: 0,
          state: { running: {} },
        },
      ],
    },
  } as k8s.V1Pod;
}

describe('choosing the control', () => {
  const template: Template = {
    kind: 'ReplicaSet',
    name: 'web-abc123',
    uid: OWNER_UID,
    hashLabel: 'pod-template-hash',
    hash: 'abc123',
    selector: { app: 'web', 'pod-template-hash': 'abc123' },
    source: 'test',
  };
  const suspect = pod('web-suspect');

  test('the newest ready pod of the same controller, template and digests; never the suspect or a stranger', () => {
    const choice = chooseControl(suspect, template, [
      suspect,
      pod('web-old', { created: '2026-12-02T09:00:00Z' }),
      pod('web-new', { created: '2026-12-02T11:00:00Z' }),
      pod('other-owner', { owner: 'someone-else', created: '2026-12-02T12:00:00Z' }),
      pod('old-template', { hash: 'zzz999', created: '2026-12-02T12:00:00Z' }),
      pod('quarantined', { labels: { 'holdfast.io/quarantine': 'q-1' }, created: '2026-12-02T12:00:00Z' }),
      pod('another-suspect', { annotations: { 'holdfast.io/incident': 'inc-2' }, created: '2026-12-02T12:00:00Z' }),
      pod('going', { deleting: true, created: '2026-12-02T12:00:00Z' }),
      pod('Bad_Name\n', { created: '2026-12-02T12:00:00Z' }),
      pod('same-uid-as-suspect', { uid: 'uid-web-suspect', created: '2026-12-02T12:00:00Z' }),
    ]);
    assert.ok('pod' in choice, JSON.stringify(choice));
    assert.equal(choice.pod.metadata!.name, 'web-new');
    assert.equal(choice.newerStarting, undefined);
  });

  test('a newer pod still starting (the replacement) asks to wait; other digests skip with the reason', () => {
    const waiting = chooseControl(suspect, template, [
      pod('web-old', { created: '2026-12-02T09:00:00Z' }),
      pod('web-replacement', { ready: false, created: '2026-12-02T11:00:00Z' }),
    ]);
    assert.ok('pod' in waiting && waiting.newerStarting === true);

    const digest = chooseControl(suspect, template, [pod('web-b', { digest: `sha256:${'b'.repeat(64)}` })]);
    assert.ok('skipped' in digest);
    assert.match(digest.skipped, /run other image digests than the suspect/);

    const none = chooseControl(suspect, template, [suspect]);
    assert.ok('skipped' in none && none.waitFor === true);
    assert.match(none.skipped, /no other pod of ReplicaSet web-abc123/);
  });

  test('selectors are built only from valid label keys and values', () => {
    assert.equal(selectorOf({ app: 'web', 'pod-template-hash': 'abc' }), 'app=web,pod-template-hash=abc');
    assert.equal(selectorOf({ app: 'web,evil=1' }), undefined);
    assert.equal(selectorOf({}), undefined);
  });
});

describe('the incident status shows the control summary first', () => {
  test('succeed with a control result puts its summary first among the notes, and in every later page', () => {
    const state = new IncidentState(
      'inc-1',
      { key: 'k', target: { cluster: 'c', namespace: 'shop', pod: 'web-a' } },
      { now: () => '2026-12-02T10:00:00.000Z' },
    );
    state.note('an earlier note');
    const record = state.track('control', 'capture');
    state.succeed(record, {
      notes: ['control sample web-b: 3 files added'],
      artifacts: [],
      control: {
        summary: '3 files added, 1 binary changed',
        control: { pod: 'web-b', uid: 'u' },
        counts: { filesAdded: 3 },
      },
    });
    assert.equal(state.status.control?.summary, '3 files added, 1 binary changed');
    assert.equal(state.status.notes?.[0], 'compared with the control web-b: 3 files added, 1 binary changed');
    assert.deepEqual(state.controlFindings, ['compared with the control web-b: 3 files added, 1 binary changed']);

    const skipped = new IncidentState('inc-2', { key: 'k', target: { cluster: 'c' } }, { now: () => 'now' });
    const skippedRecord = skipped.track('control', 'capture');
    skipped.succeed(skippedRecord, {
      notes: [],
      artifacts: [],
      control: { summary: 'control sample skipped: the pod has no controller', skipped: true },
    });
    assert.deepEqual(skipped.status.notes, ['control sample skipped: the pod has no controller']);
    assert.equal(skipped.status.control?.skipped, true);
    assert.equal(skippedRecord.state, 'skipped');
    assert.equal(record.state, 'succeeded');
  });
});

describe('the control sample in protected namespaces', () => {
  test('is left out of the plan (it would add the collector to another pod there), and the plan says so', () => {
    const playbooks = parsePlaybooks(
      'playbooks: [{ name: with-control, capture: [filesystem, control], contain: [] }]',
      'control.yaml',
      { apiBaseUrl: 'http://h', protectedNamespaces: ['kube-system'] },
    );
    const target = (namespace: string) => ({ cluster: 'c', namespace, pod: 'p' });
    const protectedPlan = playbooks.select(sampleAlert({}, target('kube-system')), target('kube-system'));
    assert.deepEqual(
      protectedPlan.captures.map((c) => c.name),
      ['filesystem'],
    );
    assert.match(protectedPlan.notes?.join(' ') ?? '', /no control sample \(it would add the collector to another pod/);
    const elsewhere = playbooks.select(sampleAlert({}, target('shop')), target('shop'));
    assert.deepEqual(
      elsewhere.captures.map((c) => c.name),
      ['filesystem', 'control'],
    );
  });
});

describe("the suspect's template, from the API server only", () => {
  const replicaSet = (name: string, hash: string, image = 'busybox:local'): k8s.V1ReplicaSet => ({
    metadata: { name, namespace: 'shop', uid: `uid-${name}` },
    spec: {
      selector: { matchLabels: { app: 'web', 'pod-template-hash': hash } },
      template: {
        metadata: { labels: { app: 'web', 'pod-template-hash': hash } },
        spec: { containers: [{ name: 'app', image }] },
      },
    },
  });
  const kubeWith = (sets: k8s.V1ReplicaSet[]) => {
    const read: string[] = [];
    const kube = {
      apps: {
        readNamespacedReplicaSet: async ({ name }: { name: string }) => {
          read.push(name);
          const rs = sets.find((s) => s.metadata!.name === name);
          if (!rs) throw Object.assign(new Error('not found'), { code: 404 });
          return rs;
        },
      },
    } as unknown as Kube;
    return { kube, read };
  };
  /** The suspect after preserve: out of its ReplicaSet (no owner, selector labels gone), with preserve's record. */
  const detached = (annotations: Record<string, string>): k8s.V1Pod => {
    const p = pod('web-suspect');
    p.metadata!.ownerReferences = [];
    p.metadata!.labels = { 'holdfast.io/quarantine': 'q-1' };
    p.metadata!.annotations = annotations;
    return p;
  };
  const recorded = (owner: string) => ({
    'holdfast.io/original-owner': owner,
    'holdfast.io/original-labels': JSON.stringify({ app: 'web', 'pod-template-hash': 'abc123' }),
  });

  test("a detached pod's ReplicaSet comes from preserve's record when its template is the suspect's", async () => {
    const { kube } = kubeWith([replicaSet('web-abc123', 'abc123')]);
    const template = await templateOf(kube, detached(recorded('ReplicaSet/web-abc123')));
    assert.ok(!('none' in template), JSON.stringify(template));
    assert.equal(template.uid, 'uid-web-abc123');
    assert.equal(template.hash, 'abc123');
    assert.deepEqual(template.selector, { app: 'web', 'pod-template-hash': 'abc123' });
  });

  test('a forged record cannot point the control at another workload or template', async () => {
    const { kube, read } = kubeWith([
      replicaSet('payments-xyz', 'xyz999'),
      replicaSet('lookalike', 'abc123', 'other:image'),
    ]);
    const other = await templateOf(kube, detached(recorded('ReplicaSet/payments-xyz')));
    assert.ok(
      'none' in other && /does not carry the suspect's pod-template-hash/.test(other.none),
      JSON.stringify(other),
    );
    const images = await templateOf(kube, detached(recorded('ReplicaSet/lookalike')));
    assert.ok('none' in images && /other containers or images/.test(images.none), JSON.stringify(images));
    for (const forged of ['ReplicaSet/../../x', 'ReplicaSet/a\nb', 'Deployment/web', 'ReplicaSet/', 'x'.repeat(300)]) {
      const none = await templateOf(kube, detached(recorded(forged)));
      assert.deepEqual(none, { none: 'the pod has no controller' }, JSON.stringify(forged));
    }
    assert.deepEqual(read, ['payments-xyz', 'lookalike'], 'invalid names are never requested');
  });

  test('other controllers: a Job has no siblings of one template; a StatefulSet uses its revision hash', async () => {
    const { kube } = kubeWith([]);
    const job = pod('batch-1');
    job.metadata!.ownerReferences = [
      { apiVersion: 'batch/v1', kind: 'Job', name: 'batch', uid: 'j', controller: true },
    ];
    const none = await templateOf(kube, job);
    assert.ok('none' in none && /controlled by Job batch/.test(none.none));
    const member = pod('db-0');
    member.metadata!.ownerReferences = [
      { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', uid: 's', controller: true },
    ];
    member.metadata!.labels = { 'controller-revision-hash': 'db-5d8f' };
    const template = await templateOf(kube, member);
    assert.ok(!('none' in template));
    assert.deepEqual(template.selector, { 'controller-revision-hash': 'db-5d8f' });
  });
});
