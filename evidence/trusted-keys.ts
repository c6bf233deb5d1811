/**
 * The public keys evidence is verified with, from configuration (HOLDFAST_TRUSTED_KEYS_FILE): never from the
 * bucket, where anyone with write access could put a `keys/<id>.pem` of their own next to a manifest they
 * signed. The API serves exactly these at /v1/keys (what `holdfast evidence verify --fetch-key` trusts).
 *
 * The file holds one or more PEM `PUBLIC KEY` blocks (Ed25519 SubjectPublicKeyInfo), e.g. the output of
 * `openssl pkey -in signing-key.pem -pubout`, concatenated when keys rotate. The embedded and compose setups let
 * the worker add its own key to the file (trustSigner); in a cluster the file is a Secret or ConfigMap mounted
 * read-only into the API, provisioned by whoever provisions the signing key.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { PublicKeyInfo, Signer } from '../common/ports';
import { publicKeyInfo } from './signer';
import type { KeyDirectory } from './keys';

const PEM_BLOCK = /-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g;
/** A trust file is a few keys; anything much bigger is a mistake (or not a key file). */
const MAX_TRUST_FILE_BYTES = 256 * 1024;

/** The configured trust file (HOLDFAST_TRUSTED_KEYS_FILE, already absolute), else `<dataDir>/trusted-keys.pem`. */
export function trustedKeysFile(dataDir: string, configured: string | undefined): string {
  return configured ?? path.join(dataDir, 'trusted-keys.pem');
}

/**
 * Every key in a trust file's text. Anything that is not an Ed25519 public key is an error, not skipped: a trust
 * file that silently lost a key would make valid evidence look forged.
 */
export function parseTrustedKeys(text: string, source = 'the trusted keys file'): PublicKeyInfo[] {
  const blocks = text.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0 && text.trim() !== '') throw new Error(`${source} holds no PEM "PUBLIC KEY" block`);
  const keys = new Map<string, PublicKeyInfo>();
  blocks.forEach((pem, i) => {
    let key: crypto.KeyObject;
    try {
      key = crypto.createPublicKey(pem);
    } catch (err) {
      throw new Error(`${source}: key ${i + 1} is not a valid public key (${(err as Error).message.slice(0, 100)})`);
    }
    if (key.asymmetricKeyType !== 'ed25519')
      throw new Error(`${source}: key ${i + 1} is ${key.asymmetricKeyType}, not Ed25519`);
    const info = publicKeyInfo(key);
    keys.set(info.keyId, info);
  });
  return [...keys.values()];
}

/** The keys in `file`; none when it does not exist (yet). */
export function readTrustedKeys(file: string): PublicKeyInfo[] {
  let text: string;
  try {
    const stat = fs.statSync(file);
    if (stat.size > MAX_TRUST_FILE_BYTES) throw new Error(`${file} is larger than ${MAX_TRUST_FILE_BYTES} bytes`);
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return parseTrustedKeys(text, file);
}

/**
 * /v1/keys from the trust file, re-read when it changes (a key added at rotation, or by the worker on its first
 * start) and checked at once, so a malformed file stops the API at start rather than at the first request.
 */
export function trustedKeyDirectory(file: string): KeyDirectory {
  let cached: { mtimeMs: number; size: number; keys: PublicKeyInfo[] } | undefined;
  const load = (): PublicKeyInfo[] => {
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    if (!stat) return [];
    if (cached && cached.mtimeMs === stat.mtimeMs && cached.size === stat.size) return cached.keys;
    const keys = readTrustedKeys(file);
    cached = { mtimeMs: stat.mtimeMs, size: stat.size, keys };
    return keys;
  };
  load();
  return { publicKeys: async () => load() };
}

/**
 * Adds the signer's public key(s) to the trust file when missing (embedded and compose setups, where the worker
 * creates the key). Written to a temporary file and renamed, mode 0644: public keys, readable by the API's user.
 * Returns the ids added; a read-only file (a mounted Secret) is the operator's to provision, so the error is the
 * caller's to log, not to stop for.
 */
export function trustSigner(file: string, signer: Signer): string[] {
  const present = readTrustedKeys(file);
  const missing = signer.publicKeys().filter((k) => !present.some((p) => p.keyId === k.keyId));
  if (missing.length === 0) return [];
  const existing = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const text = `${existing}${existing && !existing.endsWith('\n') ? '\n' : ''}${missing
    .map((k) => `# key id ${k.keyId}\n${k.publicKeyPem.trimEnd()}\n`)
    .join('')}`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(temp, text, { mode: 0o644 });
  fs.renameSync(temp, file);
  return missing.map((k) => k.keyId);
}
