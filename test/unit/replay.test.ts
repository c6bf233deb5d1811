import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Worker } from '@temporalio/worker';
import { fixturesDir, quietTemporalRuntime } from '../helpers/env';

// Histories recorded from real runs (HOLDFAST_RECORD_HISTORIES=1 npm test -- dist/test/integration/incident-workflow.test.js).
// A change to workflow code that would break running incidents fails here, before it ships.
const dir = path.join(fixturesDir, 'histories');
const files = fs.existsSync(dir)
  ? fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()
  : [];

test('committed incident histories exist', () => {
  assert.ok(files.length >= 3, `found ${files.length} histories in ${dir}`);
});

for (const file of files) {
  test(`replays ${file} deterministically with the current workflow code`, { timeout: 120_000 }, async () => {
    quietTemporalRuntime();
    const history = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    // The workflow id is the incident key, carried in the start event's input.
    const input = history.events[0].workflowExecutionStartedEventAttributes.input.payloads[0].data as string;
    const workflowId = (JSON.parse(Buffer.from(input, 'base64').toString('utf8')) as { key: string }).key;
    await Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows') }, history, workflowId);
  });
}
