import { Type } from '@sinclair/typebox';

export const EvidenceIncidentParams = Type.Object({
  incidentId: Type.String({
    pattern: '^[a-z0-9][a-z0-9-]{0,127}$',
    maxLength: 128,
    description: 'incident id, e.g. inc-<cluster>-<namespace>-<pod>-<ts>',
  }),
});

export const EvidenceQuery = Type.Object(
  {
    expiresIn: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 900,
        description: 'lifetime of the presigned artifact URLs, seconds (at most 15 minutes)',
      }),
    ),
  },
  { additionalProperties: false },
);

export const EvidenceArtifact = Type.Object({
  name: Type.String(),
  key: Type.String(),
  versionId: Type.Optional(Type.String()),
  size: Type.Integer(),
  sha256: Type.String(),
  contentType: Type.String(),
  /** Where `holdfast evidence get` puts it: `<step>/<artifact>` inside the evidence directory. */
  path: Type.String(),
  url: Type.String(),
});

export const EvidenceResponse = Type.Object({
  incidentId: Type.String(),
  keyId: Type.String(),
  /** The manifest, parsed, for reading. Verify against manifestBase64, which is the exact signed bytes. */
  manifest: Type.Unknown(),
  manifestBase64: Type.String(),
  manifestSha256: Type.String(),
  manifestVersionId: Type.Optional(Type.String()),
  signatureBase64: Type.String(),
  signatureVersionId: Type.Optional(Type.String()),
  expiresAt: Type.String(),
  artifacts: Type.Array(EvidenceArtifact),
  custodyKey: Type.String(),
  /** The DSSE envelope (in-toto statement) and its RFC 3161 timestamp response, exact bytes; absent from older seals. */
  attestationBase64: Type.Optional(Type.String()),
  timestampBase64: Type.Optional(Type.String()),
});

export const PublicKey = Type.Object({
  keyId: Type.String({ description: 'SHA-256 (hex) of the DER SubjectPublicKeyInfo' }),
  algorithm: Type.Literal('Ed25519'),
  publicKeyPem: Type.String(),
});

export const KeysResponse = Type.Object({ keys: Type.Array(PublicKey) });

export const LegalHoldBody = Type.Object({ on: Type.Boolean() }, { additionalProperties: false });
export const LegalHoldResponse = Type.Object({
  incidentId: Type.String(),
  legalHold: Type.Boolean(),
  objects: Type.Integer(),
});
