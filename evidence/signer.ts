/**
 * The embedded Ed25519 signer: a PKCS#8 PEM key file generated on first start (mode 0600), or the
 * file HOLDFAST_SIGNING_KEY_FILE names. A KMS-backed Signer can replace it behind the same interface.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { PublicKeyInfo, Signer } from '../common/ports';

/**
 * A key's id: the SHA-256 (hex) of its DER SubjectPublicKeyInfo. An investigator can recompute it:
 * `openssl pkey -pubin -in key.pub.pem -outform DER | openssl dgst -sha256`.
 */
export function keyIdOf(publicKey: crypto.KeyObject | string): string {
  const key = typeof publicKey === 'string' ? crypto.createPublicKey(publicKey) : publicKey;
  return crypto
    .createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

export function publicKeyInfo(publicKey: crypto.KeyObject): PublicKeyInfo {
  if (publicKey.asymmetricKeyType !== 'ed25519')
    throw new Error(`signing key must be Ed25519, got ${publicKey.asymmetricKeyType}`);
  return {
    keyId: keyIdOf(publicKey),
    algorithm: 'Ed25519',
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** A Signer over an in-process Ed25519 private key. */
export function keySigner(privateKey: crypto.KeyObject, extraVerifyKeys: PublicKeyInfo[] = []): Signer {
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new Error(`signing key must be Ed25519, got ${privateKey.asymmetricKeyType}`);
  const current = publicKeyInfo(crypto.createPublicKey(privateKey));
  return {
    keyId: current.keyId,
    algorithm: 'Ed25519',
    async sign(data) {
      return crypto.sign(null, data, privateKey);
    },
    publicKeys: () => [current, ...extraVerifyKeys.filter((k) => k.keyId !== current.keyId)],
  };
}

/**
 * Reads the private key file, or creates it (exclusive create, mode 0600) when absent, so the API and
 * the worker starting together end up with the same key.
 */
export function loadOrCreateSigningKey(file: string): { privateKey: crypto.KeyObject; created: boolean } {
  const read = () => {
    const stat = fs.statSync(file);
    if ((stat.mode & 0o077) !== 0)
      throw new Error(
        `signing key ${file} is readable by group or others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it`,
      );
    return crypto.createPrivateKey(fs.readFileSync(file));
  };
  if (fs.existsSync(file)) return { privateKey: read(), created: false };
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  try {
    fs.writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { privateKey: read(), created: false };
    throw err;
  }
  return { privateKey, created: true };
}

/** The configured key file (HOLDFAST_SIGNING_KEY_FILE, already absolute), else `<dataDir>/signing-key.pem`. */
export function signingKeyFile(dataDir: string, configured: string | undefined): string {
  return configured ?? path.join(dataDir, 'signing-key.pem');
}

/** The embedded default: the Ed25519 key in `file` (see signingKeyFile), generated on first start. */
export function fileSigner(file: string): { signer: Signer; file: string; created: boolean } {
  const { privateKey, created } = loadOrCreateSigningKey(file);
  return { signer: keySigner(privateKey), file, created };
}
