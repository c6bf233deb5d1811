import type { ArtifactRef } from '../../common/types';
import { HOLDFAST_VERSION } from '../../common/version';
import type { CaptureStream } from '../../common/ports';
import { jsonBody } from '../../evidence/json-body';
import type { StepContext } from './types';

/**
 * Streams each capture into the evidence store one after another (bounded memory), reporting bytes as
 * they flow. A stream that fails is destroyed so its collector stops, and the error propagates: the
 * store aborts the partial upload, so nothing half-written is ever referenced.
 */
export async function storeCaptures(ctx: StepContext, step: string, streams: CaptureStream[]): Promise<ArtifactRef[]> {
  const artifacts: ArtifactRef[] = [];
  let stored = 0;
  // A stream can fail before its turn (its collector was retired because the target killed another of its
  // commands). Unheard, that 'error' would be uncaught and take the whole worker down: keep it, and raise
  // it when that stream's turn comes.
  const failedEarly = new Map<CaptureStream, Error>();
  for (const capture of streams)
    capture.body.on('error', (err: Error) => {
      if (!failedEarly.has(capture)) failedEarly.set(capture, err);
    });
  try {
    for (const capture of streams) {
      const early = failedEarly.get(capture) ?? capture.body.errored;
      if (early) throw early;
      const ref = await ctx.deps.evidence.putArtifact({
        incidentId: ctx.incidentId,
        step,
        name: capture.name,
        contentType: capture.contentType,
        collector: capture.collector,
        method: capture.method,
        notes: capture.notes,
        body: capture.body,
        signal: ctx.signal,
        onProgress: (bytes) => ctx.progress({ step, artifact: capture.name, bytes: stored + bytes }),
      });
      stored += ref.size;
      artifacts.push(ref);
    }
  } finally {
    for (const capture of streams) if (!capture.body.destroyed) capture.body.destroy();
  }
  return artifacts;
}

/** Stores a JSON record (e.g. what a containment action changed) as evidence. */
export function jsonCapture(name: string, method: string, record: unknown, notes: string[] = []): CaptureStream {
  return {
    name,
    body: jsonBody(record),
    contentType: 'application/json',
    method,
    collector: { name: 'holdfast-worker', version: HOLDFAST_VERSION },
    notes,
  };
}
