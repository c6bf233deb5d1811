/**
 * A Holdfast worker in its own process, with fake cluster, evidence and notifiers that journal every
 * completed side effect to a file, so a test can SIGKILL it mid-incident and count what was repeated.
 * Env: TASK_QUEUE, JOURNAL, PLAYBOOKS (YAML text), DELAYS (JSON of FakeCluster delays).
 */
import fs from 'node:fs';
import type { NotifyEvent } from '../../activities/contract';
import { parsePlaybooks } from '../../activities/playbooks';
import type { SealInput, SealResult } from '../../activities/contract';
import { createWorker } from '../../worker/main';
import { FakeCluster } from '../fakes/cluster';
import { MemoryEvidenceStore } from '../fakes/evidence-store';
import { quietTemporalRuntime, testConfig } from './env';

async function main(): Promise<void> {
  quietTemporalRuntime();
  const journal = process.env.JOURNAL!;
  const note = (op: string, target: string) =>
    fs.appendFileSync(journal, `${JSON.stringify({ op, target, at: Date.now(), pid: process.pid })}\n`);
  const playbooks = parsePlaybooks(process.env.PLAYBOOKS!, 'worker-process.yaml', {
    apiBaseUrl: 'http://holdfast.test',
  });
  const notifiers = new Map(
    playbooks.notifiers.map((n) => [
      String(n.name),
      {
        async send(event: NotifyEvent) {
          note(`notify.${String(n.name)}.${event.action}`, event.incidentId);
          return { status: 'sent' as const };
        },
      },
    ]),
  );
  const sealEvidence = async (input: SealInput): Promise<SealResult> => {
    note('seal', input.incidentId);
    const key = `incidents/${input.incidentId}/manifest.json`;
    return {
      manifest: { key, size: 1, sha256: '0'.repeat(64) },
      signature: { key: `${key}.sig`, size: 1, sha256: '0'.repeat(64) },
      keyId: 'test',
    };
  };
  const cluster = new FakeCluster({ journalFile: journal, delays: JSON.parse(process.env.DELAYS ?? '{}') });
  const { worker } = await createWorker(testConfig(process.env.TASK_QUEUE!), {
    cluster,
    evidence: new MemoryEvidenceStore(),
    notifiers,
    playbooks,
    sealEvidence,
  });
  process.send?.('ready');
  await worker.run();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
