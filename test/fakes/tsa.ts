import type { TimestampAuthority } from '../../common/ports';

/**
 * A scripted TimestampAuthority: answers with `respond` (e.g. a real `openssl ts -reply`, or an error), records
 * each request, and with `hang` never answers until the caller aborts.
 */
export class FakeTimestampAuthority implements TimestampAuthority {
  readonly requests: Buffer[] = [];
  constructor(
    private readonly respond: (request: Buffer) => Promise<Buffer>,
    readonly name = 'https://tsa.example/fake',
    private readonly hang = false,
  ) {}

  async timestamp(request: Uint8Array, signal?: AbortSignal): Promise<Buffer> {
    this.requests.push(Buffer.from(request));
    if (this.hang)
      return new Promise<Buffer>((_, reject) => {
        signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      });
    return this.respond(Buffer.from(request));
  }

  static failing(message: string): FakeTimestampAuthority {
    return new FakeTimestampAuthority(async () => {
      throw new Error(message);
    });
  }

  static hanging(): FakeTimestampAuthority {
    return new FakeTimestampAuthority(async () => Buffer.alloc(0), 'https://tsa.example/slow', true);
  }
}
