/**
 * The worker that signs publishes its public key to the evidence bucket (`keys/<keyId>.pem`, locked like the
 * evidence), a record of which keys signed. Nothing trusts a key for being there: anyone who can write to the
 * bucket could add one. The API's /v1/keys serves the configured trust file (trusted-keys.ts) instead.
 */
import { FailureType, isFailure } from '../common/failures';
import type { PublicKeyInfo, Signer, SmallObjectWriter, StoredObjectInfo } from '../common/ports';

export const KEYS_PREFIX = 'keys/';

export interface KeyStore extends SmallObjectWriter {
  head(key: string, versionId?: string): Promise<StoredObjectInfo>;
}

/** The public keys evidence is verified with (GET /v1/keys): the trust file's (trusted-keys.ts). */
export interface KeyDirectory {
  publicKeys(): Promise<PublicKeyInfo[]>;
}

/** Publishes the signer's public key(s) once (idempotent: an existing `keys/<keyId>.pem` is left alone). */
export async function publishPublicKeys(store: KeyStore, signer: Signer): Promise<void> {
  for (const info of signer.publicKeys()) {
    const key = `${KEYS_PREFIX}${info.keyId}.pem`;
    const exists = await store.head(key).then(
      () => true,
      (err: Error) => {
        if (isFailure(err, FailureType.NotFound)) return false;
        throw err;
      },
    );
    if (!exists)
      await store.putSmallObject(key, Buffer.from(info.publicKeyPem), 'application/x-pem-file', {
        'key-id': info.keyId,
      });
  }
}
