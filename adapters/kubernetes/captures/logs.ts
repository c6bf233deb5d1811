import { Transform } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { FailureType, isFailure } from '../../../common/failures';
import type { CaptureStream } from '../../../common/ports';
import { mapKubernetesError } from '../errors';
import { inspectPod } from '../inspect';
import { readPod } from '../pods';
import { API_COLLECTOR, jsonStream } from '../streams';
import { defineCapture } from '../units';

/** A pass-through that notes, before it ends, when the server's byte limit was reached (later lines were cut). */
function boundNoted(limitBytes: number, notes: string[], what: string): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      bytes += chunk.length;
      callback(null, chunk);
    },
    flush(callback) {
      if (bytes >= limitBytes)
        notes.push(`${what}: the bound of ${limitBytes} bytes was reached: later lines are missing`);
      callback();
    },
  });
}

/** Current and previous logs of every container, with timestamps, bounded per container; read-only, so a dry run runs it too. */
export const logsCapture = defineCapture({
  name: 'logs',
  description: 'Current and previous logs of every container of the pod, with timestamps, and the pod events.',
  params: Type.Object({
    maxBytesPerContainer: Type.Integer({ minimum: 1, default: 64 * 1024 ** 2 }),
    sinceSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
  }),
  example: { maxBytesPerContainer: 16777216 },
  rbac: [
    { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
    { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
    { apiGroups: [''], resources: ['events'], verbs: ['list'] },
    { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['get'] },
  ],
  timeouts: { startToCloseSeconds: 600, heartbeatSeconds: 60, maximumAttempts: 3 },
  async capture(kube, target, params): Promise<CaptureStream[]> {
    const pod = await readPod(kube, target);
    const limitBytes = params.maxBytesPerContainer;
    const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => c.name);
    const statuses = new Map(
      [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].map((s) => [s.name, s]),
    );
    const streams: CaptureStream[] = [];
    for (const container of containers) {
      const variants = [false, ...((statuses.get(container)?.restartCount ?? 0) > 0 ? [true] : [])];
      for (const previous of variants) {
        const name = `${container}${previous ? '.previous' : ''}.log`;
        const notes = [`bounded to ${limitBytes} bytes`];
        const body = boundNoted(limitBytes, notes, `logs of ${container}${previous ? ' (previous)' : ''}`);
        try {
          await kube.logs.log(target.namespace, target.pod, container, body, {
            timestamps: true,
            previous,
            limitBytes,
            sinceSeconds: params.sinceSeconds,
          });
        } catch (err) {
          body.destroy();
          const mapped = mapKubernetesError(err, `logs of ${container}`);
          if (isFailure(mapped, FailureType.PermissionDenied)) throw mapped;
          streams.push(
            jsonStream(`${name}.error.json`, 'kubernetes-api:pod-log', { error: mapped.message }, [
              `logs of ${container}${previous ? ' (previous)' : ''} unavailable: ${mapped.message}`,
            ]),
          );
          continue;
        }
        streams.push({
          name,
          body,
          collector: API_COLLECTOR,
          contentType: 'text/plain',
          method: `kubernetes-api:pod-log timestamps=true previous=${previous} limitBytes=${limitBytes}`,
          notes,
        });
      }
    }
    const events = (await inspectPod(kube, target))[0]!;
    streams.push({ ...events, name: 'events-and-pod.json' });
    return streams;
  },
});
