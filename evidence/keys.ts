/**
 * The worker that signs publishes its public key to the evidence bucket (`keys/<keyId>.pem`, locked like the
 * evidence), a record of which keys signed. Nothing trusts a key for being there: anyone who can write to the
 * bucket could add one. The API's /v1/keys serves the configured trust file (trusted-keys.ts) instead.
 */
import crypto from 'node:crypto';
import { FailureType, isFailure } from '../common/failures';
import type { PublicKeyInfo, Signer, SmallObjectWriter, StoredObjectInfo } from '../common/ports';
import { keyIdOf } from './signer';

export const KEYS_PREFIX = 'keys/';
const KEY_ID = /^[0-9a-f]{64}$/;

export interface KeyStore extends SmallObjectWriter {
  head(key: string, versionId?: string): Promise<StoredObjectInfo>;
  readSmall(key: string, versionId: string | undefined, maxBytes: number): Promise<{ bytes: Buffer }>;
  listKeys(prefix: string, max?: number): Promise<string[]>;
}

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

/** Parses a published key, accepting it only if it is Ed25519 and its id matches its name. */
function parsePublished(keyId: string, pem: string): PublicKeyInfo | undefined {
  try {
    const key = crypto.createPublicKey(pem);
    if (key.asymmetricKeyType !== 'ed25519' || keyIdOf(key) !== keyId) return undefined;
    return { keyId, algorithm: 'Ed25519', publicKeyPem: key.export({ type: 'spki', format: 'pem' }).toString() };
  } catch {
    return undefined;
  }
}

/** The local signer's keys (if any) first, then every valid key published in the bucket; cached briefly. */
export function keyDirectory(
  store: KeyStore,
  local?: Signer,
  cacheMs = 60_000,
  now: () => number = Date.now,
): KeyDirectory {
  let cached: { at: number; keys: PublicKeyInfo[] } | undefined;
  return {
    async publicKeys() {
      if (cached && now() - cached.at < cacheMs) return cached.keys;
      const keys = new Map<string, PublicKeyInfo>();
      for (const k of local?.publicKeys() ?? []) keys.set(k.keyId, k);
      for (const object of await store.listKeys(KEYS_PREFIX, 200)) {
        const keyId = object.slice(KEYS_PREFIX.length).replace(/\.pem$/, '');
        if (!KEY_ID.test(keyId) || keys.has(keyId)) continue;
        const { bytes } = await store.readSmall(object, undefined, 4096);
        const info = parsePublished(keyId, bytes.toString('utf8'));
        if (info) keys.set(keyId, info);
      }
      cached = { at: now(), keys: [...keys.values()] };
      return cached.keys;
    },
  };
}
