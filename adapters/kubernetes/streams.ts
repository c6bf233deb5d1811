import type { CaptureStream } from '../../common/ports';
import { HOLDFAST_VERSION } from '../../common/version';
import { jsonBody } from '../../evidence/json-body';

/** What read evidence straight from the API server (rather than through the collector). */
export const API_COLLECTOR = { name: 'holdfast-kubernetes-api', version: HOLDFAST_VERSION };

export function jsonStream(name: string, method: string, value: unknown, notes: string[] = []): CaptureStream {
  return {
    name,
    method,
    notes,
    collector: API_COLLECTOR,
    contentType: 'application/json',
    body: jsonBody(value),
  };
}
