import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { AlertIntake, alertFingerprint, type IntakeSink } from '../../api/intake';
import type { AlertTarget } from '../../common/types';
import type { AlertBatch } from '../../workflows/definitions';
import { sampleAlert } from '../helpers/incident-harness';

/** A sink that behaves like Temporal for the intake: one run per key, 5 ms per call. */
class CountingSink implements IntakeSink {
  delivers = 0;
  signals = 0;
  readonly received = new Map<string, { alerts: string[]; repeats: number }>();
  failNext = 0;
  closed = false;
  async deliver(workflowId: string, _target: AlertTarget, batch: AlertBatch): Promise<string> {
    this.delivers += 1;
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
  async startedBefore(): Promise<boolean> {
    return false;
  }
  private record(workflowId: string, batch: AlertBatch) {
    const entry = this.received.get(workflowId) ?? { alerts: [], repeats: 0 };
    entry.alerts.push(...batch.alerts.map((a) => a.alert.id));
    entry.repeats += (batch.repeats ?? []).reduce((n, r) => n + r.count, 0);
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

  test('fingerprints ignore ids and times but not content', () => {
    const a = sampleAlert();
    assert.equal(alertFingerprint(a), alertFingerprint({ ...a, id: 'other', receivedAt: '2000-01-01T00:00:00Z' }));
    assert.notEqual(alertFingerprint(a), alertFingerprint({ ...a, summary: 'different' }));
    assert.notEqual(alertFingerprint(a), alertFingerprint({ ...a, target: { ...a.target, pod: 'other' } }));
  });
});
