import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { storeCaptures } from '../../activities/steps/store';
import type { StepContext } from '../../activities/steps/types';
import type { CaptureStream } from '../../common/ports';
import { MemoryEvidenceStore } from '../fakes/evidence-store';

function stream(name: string, body: PassThrough): CaptureStream {
  return {
    name,
    body,
    contentType: 'application/octet-stream',
    method: 'test',
    collector: { name: 'test', version: '0' },
    notes: [],
  };
}

// Seen on the local cluster: the target SIGKILLed the collector's tar, Holdfast retired that collector, and
// the network capture's second stream, still waiting for its turn, failed with no listener: an uncaught
// 'error' that would take the whole worker down.
test('a stream that fails before its turn fails the step, never the worker', async () => {
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  process.on('uncaughtException', onUncaught);
  try {
    const first = new PassThrough();
    const second = new PassThrough();
    const evidence = new MemoryEvidenceStore();
    const ctx = {
      incidentId: 'inc-00000000-0000-4000-8000-000000000000',
      deps: { evidence },
      progress: () => undefined,
    } as unknown as StepContext;
    const stored = storeCaptures(ctx, 'network', [stream('a.json', first), stream('b.json', second)]);
    first.write('first stream, still being stored');
    await sleep(10);
    second.destroy(new Error('network state: ended when Holdfast retired its collector'));
    await sleep(10);
    first.end();
    await assert.rejects(stored, /ended when Holdfast retired its collector/);
    await sleep(10);
    assert.deepEqual(uncaught, []);
  } finally {
    process.off('uncaughtException', onUncaught);
  }
});
