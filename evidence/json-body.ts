import { Readable } from 'node:stream';

/** A JSON record as an artifact body: pretty-printed, newline-terminated. */
export function jsonBody(value: unknown): Readable {
  return Readable.from([Buffer.from(`${JSON.stringify(value, null, 2)}\n`)]);
}
