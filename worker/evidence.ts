/**
 * The worker's evidence services: the configured store (evidence/), the manifest signer (a key file
 * generated on first start, unless another signer is given) and the sealEvidence activity.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { createSealActivities } from '../activities/seal';
import type { EvidenceSettings } from '../common/config';
import type { CustodyLog, Signer } from '../common/ports';
import { evidenceStore, type EvidenceConfig } from '../evidence';
import { s3CustodyLog } from '../evidence/custody';
import { publishPublicKeys } from '../evidence/keys';
import { fileSigner, signingKeyFile } from '../evidence/signer';
import type { S3EvidenceStore } from '../adapters/s3/evidence-store';
import { httpTimestampAuthority } from '../adapters/tsa/http';

export interface EvidenceServices {
  store: S3EvidenceStore;
  signer: Signer;
  /** Where the signing key lives (embedded default), and whether this start generated it. */
  signingKeyFile?: string;
  signingKeyCreated: boolean;
  custody: CustodyLog;
  settings: EvidenceSettings;
  /** Publishes the signer's public key to `keys/<keyId>.pem` in the bucket (also done before the first seal). */
  publishSigningKey(): Promise<void>;
  sealEvidence: ReturnType<typeof createSealActivities>['sealEvidence'];
}

export interface EvidenceServicesOptions {
  /** A signer from elsewhere (e.g. KMS); default: the Ed25519 key file. */
  signer?: Signer;
  log?: (message: string, fields: Record<string, unknown>) => void;
}

/** For the worker: the store, the signer (key file generated on first start) and sealEvidence. */
export function createEvidenceServices(
  config: EvidenceConfig,
  s3: S3Client,
  options: EvidenceServicesOptions = {},
): EvidenceServices {
  const settings = config.evidence;
  const store = evidenceStore(config, s3);
  const fromFile = options.signer ? undefined : fileSigner(signingKeyFile(config.dataDir, settings.signingKeyFile));
  const signer = options.signer ?? fromFile!.signer;
  const seal = createSealActivities({
    store,
    signer,
    retention: config.retention,
    legalHold: settings.legalHold,
    ...(settings.tsa
      ? { timestamps: httpTimestampAuthority(settings.tsa), timestampTimeoutMs: settings.tsa.timeoutMs }
      : {}),
    log: options.log,
  });
  let published: Promise<void> | undefined;
  const publishSigningKey = () => {
    published ??= publishPublicKeys(store, signer).catch((err: unknown) => {
      published = undefined;
      throw err;
    });
    return published;
  };
  return {
    store,
    signer,
    signingKeyFile: fromFile?.file,
    signingKeyCreated: fromFile?.created ?? false,
    custody: s3CustodyLog(store),
    settings,
    publishSigningKey,
    async sealEvidence(input) {
      // A record in the bucket of which keys signed (nothing trusts it: the API serves its trust file).
      await publishSigningKey().catch((err: unknown) =>
        options.log?.('could not publish the signing public key', { err: (err as Error).message }),
      );
      return seal.sealEvidence(input);
    },
  };
}
