import crypto from 'node:crypto';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { AlertIntake, alertFingerprint, MAX_RAW_BYTES_PER_INCIDENT, type IntakeSink } from '../../api/intake';
import type { AlertTarget } from '../../common/types';
import type { AlertBatch } from '../../workflows/definitions';
import { sampleAlert } from '../helpers/incident-harness';

/** A sink that behaves like Temporal for the intake: one run per key, 5 ms per call. */
class CountingSink implements IntakeSink {
  delivers = 0;
  signals = 0;
  readonly received = new Map<string, { alerts: string[]; repeats: number; resends: number }>();
  failNext = 0;
  closed = false;
  /** Every delivery: when, how many alerts and how many bytes of them. */
  readonly deliveries: Array<{ at: number; count: number; bytes: number }> = [];
  async deliver(workflowId: string, _target: AlertTarget, batch: AlertBatch): Promise<string> {
    this.delivers += 1;
    const bytes = batch.alerts.reduce((n, a) => n + Buffer.byteLength(JSON.stringify(a)), 0);
    this.deliveries.push({ at: Date.now(), count: batch.alerts.length, bytes });
    await sleep(5);
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('temporal unavailable');
    }
    this.record(workflowId, batch);
    return `run-${workflowId}`;
  }
  async signalOpen(workflowId: string, batch: AlertBatch): Promise<boolean> {
    this.signals += 1;
    if (this.closed) return false;
    this.record(workflowId, batch);
    return true;
  }
  async describeRun() {
    return { startedAt: new Date() };
  }
  private record(workflowId: string, batch: AlertBatch) {
    const entry = this.received.get(workflowId) ?? { alerts: [], repeats: 0, resends: 0 };
    entry.alerts.push(...batch.alerts.map((a) => a.alert.id));
    entry.repeats += (batch.repeats ?? []).reduce((n, r) => n + r.count, 0);
    entry.resends += (batch.repeats ?? []).reduce((n, r) => n + (r.resends ?? 0), 0);
    this.received.set(workflowId, entry);
  }
}

const options = { repeatWindowMs: 50, maxBatch: 20, maxInFlight: 8, maxKeys: 1000 };

describe('alert intake coalescing', () => {
  test('a storm of identical alerts about 50 pods becomes about one delivery per pod, every alert counted', async () => {
    const sink = new CountingSink();
    const intake = new AlertIntake(sink, { ...options, repeatWindowMs: 5000 });
    const targets = Array.from({ length: 50 }, (_, i) => ({ cluster: 'c', namespace: 'ns', pod: `pod-${i}` }));
    const accepted = await Promise.all(
      Array.from({ length: 5000 }, (_, i) => intake.accept(sampleAlert({ summary: 'same' }, targets[i % 50]))),
    );
    await intake.flush();
    assert.equal(new Set(accepted.map((a) => a.workflowId)).size, 50);
    assert.ok(sink.delivers <= 60, `${sink.delivers} deliveries for 5000 alerts`);
    let total = 0;
    for (const entry of sink.received.values()) total += entry.alerts.length + entry.repeats;
    assert.equal(total, 5000, 'every alert is either delivered or counted as a repeat');
    assert.equal(accepted.filter((a) => !a.deduplicated).length, 50);
  });

  test('distinct alerts are never dropped: all arrive, batched while a call is in flight', async () => {
    const sink = new CountingSink();
    const intake = new AlertIntake(sink, options);
    const target = { cluster: 'c', namespace: 'ns', pod: 'p' };
    const alerts = Array.from({ length: 300 }, (_, i) => sampleAlert({ summary: `distinct ${i}` }, target));
    await Promise.all(alerts.map((a) => intake.accept(a)));
    const got = sink.received.get('incident/c/ns/p')!;
    assert.deepEqual([...got.alerts].sort(), alerts.map((a) => a.id).sort());
    assert.ok(sink.delivers < 300 / 5, `${sink.delivers} calls for 300 distinct alerts`);
  });

  test('a failed delivery rejects its callers and does not swallow the next identical alert', async () => {
    const sink = new CountingSink();
    sink.failNext = 1;
    const intake = new AlertIntake(sink, options);
    const alert = sampleAlert();
    await assert.rejects(intake.accept(alert), /temporal unavailable/);
    const retried = await intake.accept({ ...alert, id: 'retry' });
    assert.equal(retried.deduplicated, false);
    assert.deepEqual(sink.received.get(retried.workflowId)!.alerts, ['retry']);
  });

  test('a repeat of an alert whose incident has since closed opens a new incident instead of vanishing', async () => {
    const sink = new CountingSink();
    const intake = new AlertIntake(sink, { ...options, repeatWindowMs: 60_000, repeatFlushMs: 20 });
    const first = sampleAlert();
    await intake.accept(first);
    sink.closed = true; // a responder resolved the incident
    const repeat = { ...first, id: 'after-close' };
    const answered = await intake.accept(repeat);
    assert.equal(answered.deduplicated, true, 'answered at once as a repeat');
    for (let i = 0; i < 100 && !sink.received.get(answered.workflowId)!.alerts.includes('after-close'); i++)
      await sleep(10);
    assert.deepEqual(
      sink.received.get(answered.workflowId)!.alerts,
      [first.id, 'after-close'],
      'the flush found the incident closed and delivered the alert again',
    );
    assert.equal(sink.delivers, 2);
  });

  test('repeats folded into a delivery that fails fail with it and are not counted: a retry counts each once', async () => {
    const sink = new CountingSink();
    sink.failNext = 1;
    const intake = new AlertIntake(sink, { ...options, repeatWindowMs: 60_000, repeatFlushMs: 20 });
    const original = sampleAlert({ summary: 'same' });
    const repeats = [1, 2, 3].map((i) => ({ ...original, id: `r${i}` }));
    const answers = [original, ...repeats].map((a) =>
      intake.accept(a).then(
        () => 'ok',
        () => 'failed',
      ),
    );
    assert.deepEqual(await Promise.all(answers), ['failed', 'failed', 'failed', 'failed']);
    await sleep(60);
    await intake.flush();
    assert.equal(sink.received.size, 0, 'nothing was counted for the failed delivery');
    // The senders retry (or the API spools and re-delivers): each alert counts exactly once.
    await Promise.all([original, ...repeats].map((a) => intake.accept(a)));
    await intake.flush();
    const got = [...sink.received.values()][0]!;
    assert.equal(got.alerts.length + got.repeats, 4);
  });

  test('an alert withdrawn while it waits for its delivery is not delivered', async () => {
    const sink = new CountingSink();
    const intake = new AlertIntake(sink, { ...options, minDeliveryIntervalMs: 200 });
    const target = { cluster: 'c', namespace: 'ns', pod: 'w' };
    await intake.accept(sampleAlert({ summary: 'first' }, target));
    const withdraw = new AbortController();
    const waiting = intake.accept(sampleAlert({ summary: 'second' }, target), withdraw.signal);
    withdraw.abort();
    await assert.rejects(waiting, /withdrawn/);
    await sleep(300);
    assert.equal(sink.received.get('incident/c/ns/w')!.alerts.length, 1);
  });

  test('a re-send of the same instance (same sender id) is a notification, not an occurrence; it never reopens', async () => {
    const sink = new CountingSink();
    const intake = new AlertIntake(sink, { ...options, repeatWindowMs: 60_000, repeatFlushMs: 20 });
    const first = sampleAlert({ id: 'am-8c1f-1764339130000' });
    await intake.accept(first);
    for (let i = 0; i < 3; i++) await intake.accept({ ...first }); // Alertmanager's repeat_interval
    await intake.accept({ ...first, id: 'am-8c1f-1764339999000' }); // fired anew: a new startsAt
    await intake.flush();
    const got = sink.received.get(`incident/test/shop/${first.target.pod}`)!;
    assert.deepEqual([got.alerts.length, got.repeats, got.resends], [1, 1, 3]);
    // The incident is resolved; the sender re-sends the same instance: no new incident.
    sink.closed = true;
    await intake.accept({ ...first });
    await intake.flush();
    await sleep(50);
    assert.equal(sink.delivers, 1, 'no delivery reopened the resolved incident');
  });

  test('a storm names its open incident without Temporal (heldBy) only while deliveries to it are under way', async () => {
    const sink = new CountingSink();
    const intake = new AlertIntake(sink, { ...options, repeatWindowMs: 5000 });
    const target = { cluster: 'c', namespace: 'ns', pod: 'held' };
    const first = sampleAlert({ summary: 'first' }, target);
    assert.equal(intake.heldBy(first), undefined, 'a first alert: only Temporal knows its incident');
    const opened = await intake.accept(first);
    assert.equal(
      intake.heldBy(sampleAlert({ summary: 'quiet' }, target)),
      undefined,
      'a quiet key: one signal answers',
    );
    assert.equal(intake.answersAtOnce(first), true, 'a repeat of a delivered alert is answered from memory');
    assert.equal(intake.answersAtOnce(sampleAlert({ summary: 'new' }, target)), false);
    // A delivery on its way: the next distinct alert's incident is known.
    const onItsWay = intake.accept(sampleAlert({ summary: 'second' }, target));
    assert.deepEqual(intake.heldBy(sampleAlert({ summary: 'third' }, target)), {
      workflowId: opened.workflowId,
      incidentId: opened.incidentId,
      deduplicated: true,
    });
    await onItsWay;
    // Another key's storm says nothing about this one, nor about a key never delivered to.
    assert.equal(intake.heldBy(sampleAlert({}, { ...target, pod: 'other' })), undefined);
  });

  test('a first delivery on its way names its incident to the alerts behind it once Temporal answers', async () => {
    const sink = new CountingSink();
    const intake = new AlertIntake(sink, { ...options, repeatWindowMs: 5000 });
    const target = { cluster: 'c', namespace: 'ns', pod: 'first-on-its-way' };
    const opening = intake.accept(sampleAlert({ summary: 'opens' }, target));
    const held = intake.heldBy(sampleAlert({ summary: 'right behind' }, target));
    assert.ok(held instanceof Promise, 'the answer comes with the delivery on its way');
    const [opened, named] = await Promise.all([opening, held]);
    assert.deepEqual(named, { workflowId: opened.workflowId, incidentId: opened.incidentId, deduplicated: true });
    // The delivery fails: the alerts behind it are named nowhere (they wait in the spool all the same).
    sink.failNext = 1;
    const failing = intake.accept(sampleAlert({ summary: 'fails' }, { ...target, pod: 'failing' }));
    const unnamed = intake.heldBy(sampleAlert({ summary: 'behind a failure' }, { ...target, pod: 'failing' }));
    await assert.rejects(failing, /temporal unavailable/);
    assert.equal(await unnamed, undefined);
  });

  test('a key that took two deliveries within seconds is in a storm: its next alert is named from memory', async () => {
    const sink = new CountingSink();
    const intake = new AlertIntake(sink, { ...options, repeatWindowMs: 5000 });
    const target = { cluster: 'c', namespace: 'ns', pod: 'storming' };
    const opened = await intake.accept(sampleAlert({ summary: 'one' }, target));
    assert.equal(intake.heldBy(sampleAlert({ summary: 'quiet' }, target)), undefined, 'one delivery: not a storm');
    await intake.accept(sampleAlert({ summary: 'two' }, target));
    assert.deepEqual(intake.heldBy(sampleAlert({ summary: 'three' }, target)), {
      workflowId: opened.workflowId,
      incidentId: opened.incidentId,
      deduplicated: true,
    });
  });

  test("a key's first delivery takes one look before it and none after: it knows whether it opened the incident", async () => {
    class LookingSink extends CountingSink {
      looks = 0;
      describes = 0;
      open?: { runId: string; incidentId: string };
      async latest() {
        this.looks += 1;
        return this.open ? { open: this.open } : {};
      }
      override async describeRun() {
        this.describes += 1;
        return { startedAt: new Date() };
      }
    }
    const sink = new LookingSink();
    const intake = new AlertIntake(sink, { ...options, resolveSticksMs: 60_000 });
    const opened = await intake.accept(
      sampleAlert({ summary: 'opens' }, { cluster: 'c', namespace: 'ns', pod: 'new' }),
    );
    assert.equal(opened.deduplicated, false, 'no run was open: this delivery started it');
    assert.equal(opened.incidentId, 'inc-run-incident/c/ns/new');
    assert.deepEqual([sink.looks, sink.describes], [1, 0]);
    // A run another process opened, continued as new under its first run's incident id.
    sink.open = { runId: 'run-incident/c/ns/old', incidentId: 'inc-first-run' };
    const joined = await intake.accept(
      sampleAlert({ summary: 'joins' }, { cluster: 'c', namespace: 'ns', pod: 'old' }),
    );
    assert.deepEqual([joined.deduplicated, joined.incidentId], [true, 'inc-first-run']);
    assert.deepEqual([sink.looks, sink.describes], [2, 0]);
  });

  test('fingerprints ignore ids and times but not content', () => {
    const a = sampleAlert();
    assert.equal(alertFingerprint(a), alertFingerprint({ ...a, id: 'other', receivedAt: '2000-01-01T00:00:00Z' }));
    assert.notEqual(alertFingerprint(a), alertFingerprint({ ...a, summary: 'different' }));
    assert.notEqual(alertFingerprint(a), alertFingerprint({ ...a, target: { ...a.target, pod: 'other' } }));
  });
});

describe("alert intake keeps one incident's history growing at a bounded pace", () => {
  const target = { cluster: 'c', namespace: 'ns', pod: 'p' };

  test('a steady storm of repeats is flushed at doubling intervals, not every flush period, every repeat counted', async () => {
    const sink = new CountingSink();
    const intake = new AlertIntake(sink, {
      ...options,
      repeatWindowMs: 60_000,
      repeatFlushMs: 20,
      repeatFlushMaxMs: 160,
    });
    const alert = sampleAlert({ summary: 'same' }, target);
    await intake.accept(alert);
    let sent = 1;
    const until = Date.now() + 1200;
    while (Date.now() < until) {
      await intake.accept({ ...alert, id: `r${sent}` });
      sent += 1;
      await sleep(5);
    }
    await intake.flush();
    const got = sink.received.get('incident/c/ns/p')!;
    assert.equal(got.alerts.length + got.repeats, sent, 'every repeat is counted');
    // A flush every 20 ms would be ~60 signals; doubling to 160 ms gives about 10.
    assert.ok(sink.signals <= 14, `${sink.signals} repeat signals in 1.2 s`);
    assert.ok(sink.signals >= 4, `${sink.signals} repeat signals: counts still flow`);
  });

  test('after a quiet spell the first repeats are sent soon again', async () => {
    const sink = new CountingSink();
    const intake = new AlertIntake(sink, {
      ...options,
      repeatWindowMs: 60_000,
      repeatFlushMs: 20,
      repeatFlushMaxMs: 1000,
    });
    const alert = sampleAlert({ summary: 'same' }, target);
    await intake.accept(alert);
    for (let i = 0; i < 40; i++) {
      await intake.accept({ ...alert, id: `a${i}` });
      await sleep(5);
    }
    await sleep(700);
    const before = sink.signals;
    await intake.accept({ ...alert, id: 'late' });
    for (let i = 0; i < 50 && sink.signals === before; i++) await sleep(10);
    assert.equal(sink.signals, before + 1, 'the late repeat was sent within 0.5 s, not after the grown interval');
  });

  test('distinct alerts for one incident: deliveries at least the minimum interval apart, none lost', async () => {
    const sink = new CountingSink();
    const intake = new AlertIntake(sink, { ...options, minDeliveryIntervalMs: 100 });
    const started = Date.now();
    const accepted: Array<Promise<unknown>> = [];
    for (let i = 0; i < 60; i++) {
      accepted.push(intake.accept(sampleAlert({ summary: `distinct ${i}` }, target)));
      await sleep(10);
    }
    await Promise.all(accepted);
    const elapsed = Date.now() - started;
    assert.equal(sink.received.get('incident/c/ns/p')!.alerts.length, 60);
    const gaps = sink.deliveries.slice(1).map((d, i) => d.at - sink.deliveries[i]!.at);
    assert.ok(
      gaps.every((g) => g >= 95),
      `gaps ${gaps.join(', ')} ms`,
    );
    assert.ok(sink.delivers <= elapsed / 100 + 2, `${sink.delivers} deliveries in ${elapsed} ms`);
  });

  test('a burst of deliveries goes at once; after it, one per interval', async () => {
    const sink = new CountingSink();
    const intake = new AlertIntake(sink, { ...options, minDeliveryIntervalMs: 100, deliveryBurst: 5 });
    for (let i = 0; i < 9; i++) await intake.accept(sampleAlert({ summary: `burst ${i}` }, target));
    const gaps = sink.deliveries.slice(1).map((d, i) => d.at - sink.deliveries[i]!.at);
    assert.equal(sink.deliveries.length, 9);
    // Load only lengthens gaps: after the burst each waits at least its interval (a lower bound holds on a busy
    // machine), and the burst's deliveries did not wait for one (together shorter than the paced ones').
    assert.ok(
      gaps.slice(5).every((g) => g >= 90),
      `after the burst: ${gaps.join(', ')} ms`,
    );
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    assert.ok(sum(gaps.slice(0, 4)) < sum(gaps.slice(4)), `the burst: ${gaps.join(', ')} ms`);
  });

  test('each incident gets a request body once, with its first alert from it, within MAX_RAW_BYTES_PER_INCIDENT', async () => {
    const bodies: Array<[string, string | undefined]> = [];
    const sink = new CountingSink();
    const deliver = sink.deliver.bind(sink);
    sink.deliver = async (workflowId: string, t: AlertTarget, batch: AlertBatch) => {
      for (const a of batch.alerts) bodies.push([`${a.alert.target.pod}/${a.alert.id}`, a.rawBody]);
      return deliver(workflowId, t, batch);
    };
    const intake = new AlertIntake(sink, options);
    const group = Buffer.from('{"alerts":[…two pods…]}');
    const request = { opened: 0, rawBody: group };
    // Alerts from one request carry its body's hash, as the routes set it.
    const fromGroup = { rawSha256: crypto.createHash('sha256').update(group).digest('hex') };
    const other = { cluster: 'c', namespace: 'ns', pod: 'q' };
    await Promise.all([
      intake.accept(sampleAlert({ id: 'p1', summary: '1', ...fromGroup }, target), undefined, request),
      intake.accept(sampleAlert({ id: 'p2', summary: '2', ...fromGroup }, target), undefined, request),
      intake.accept(sampleAlert({ id: 'q1', summary: '3', ...fromGroup }, other), undefined, request),
    ]);
    const big = { opened: 0, rawBody: Buffer.alloc(MAX_RAW_BYTES_PER_INCIDENT, 0x7b) };
    await intake.accept(sampleAlert({ id: 'p3', summary: '4', rawSha256: 'b'.repeat(64) }, target), undefined, big);
    assert.deepEqual(
      bodies.map(([who, b]) => [who, b === undefined ? undefined : Buffer.from(b, 'base64').toString()]),
      [
        ['p/p1', group.toString()],
        ['p/p2', undefined],
        ['q/q1', group.toString()],
        ['p/p3', undefined],
      ],
    );
  });

  test('a batch stays under the byte bound; one alert larger than it still goes, alone', async () => {
    const sink = new CountingSink();
    const intake = new AlertIntake(sink, { ...options, maxBatchBytes: 100 * 1024, minDeliveryIntervalMs: 50 });
    const big = (i: number, kib: number) => sampleAlert({ summary: `${i}`.padEnd(kib * 1024, 'x') }, target);
    const alerts = [...Array.from({ length: 9 }, (_, i) => big(i, 40)), big(99, 150)];
    await Promise.all(alerts.map((a) => intake.accept(a)));
    assert.equal(sink.received.get('incident/c/ns/p')!.alerts.length, 10);
    for (const d of sink.deliveries) assert.ok(d.bytes <= 100 * 1024 || d.count === 1, JSON.stringify(d));
    assert.ok(sink.deliveries.some((d) => d.count === 1 && d.bytes > 150 * 1024));
  });
});
