import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { PublicKeyInfo } from '../../common/ports';
import { KeysResponse } from '../schemas/evidence';

/** `GET /v1/keys`: the manifest-signing public keys. Public by nature, so no token is required. */
export function keysRoutes(keys: {
  publicKeys(): PublicKeyInfo[] | Promise<PublicKeyInfo[]>;
}): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/v1/keys',
      {
        schema: {
          summary: 'Public keys that verify evidence manifests (Ed25519, PEM)',
          response: { 200: KeysResponse },
        },
      },
      async () => ({ keys: await keys.publicKeys() }),
    );
  };
}
