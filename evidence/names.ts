/**
 * Validation of everything that becomes part of an S3 key. Incident ids, step and artifact names come
 * (indirectly) from attacker-controlled alerts: they are checked here, never used to build file paths
 * or commands, and bounded.
 */
import { InvalidInput } from '../common/failures';

export const INCIDENT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,127}$/;
export const STEP_PATTERN = /^[a-z0-9][a-z0-9.-]{0,62}$/;
/** Artifact file names: letters, digits, dot, dash, underscore; no leading dot; never "..". */
export const ARTIFACT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

export function isIncidentId(value: unknown): value is string {
  return typeof value === 'string' && INCIDENT_ID_PATTERN.test(value);
}

export function assertIncidentId(value: unknown): string {
  if (!isIncidentId(value)) throw new InvalidInput(`invalid incident id "${String(value).slice(0, 80)}"`);
  return value;
}

export function assertStep(value: unknown): string {
  if (typeof value !== 'string' || !STEP_PATTERN.test(value))
    throw new InvalidInput(`invalid step name "${String(value).slice(0, 80)}"`);
  return value;
}

export function assertArtifactName(value: unknown): string {
  if (typeof value !== 'string' || !ARTIFACT_NAME_PATTERN.test(value) || value.includes('..')) {
    throw new InvalidInput(`invalid artifact name "${String(value).slice(0, 80)}"`);
  }
  return value;
}

export function incidentPrefix(incidentId: string): string {
  return `incidents/${assertIncidentId(incidentId)}/`;
}

/** `incidents/<incidentId>/<step>/<artifact>` */
export function artifactKey(incidentId: string, step: string, name: string): string {
  return `${incidentPrefix(incidentId)}${assertStep(step)}/${assertArtifactName(name)}`;
}

export function manifestKey(incidentId: string): string {
  return `${incidentPrefix(incidentId)}manifest.json`;
}

export function signatureKey(incidentId: string): string {
  return `${incidentPrefix(incidentId)}manifest.sig`;
}

export function attestationKey(incidentId: string): string {
  return `${incidentPrefix(incidentId)}attestation.dsse.json`;
}

export function timestampKey(incidentId: string): string {
  return `${incidentPrefix(incidentId)}attestation.tsr`;
}

/**
 * The path of an artifact inside an evidence directory or bundle: its key relative to the incident
 * prefix (`<step>/<artifact>`). Returns undefined for any key that is not exactly of that shape, so a
 * hostile manifest can never name `../` or an absolute path.
 */
export function relativeArtifactPath(incidentId: string, key: string): string | undefined {
  if (!isIncidentId(incidentId)) return undefined;
  const prefix = `incidents/${incidentId}/`;
  if (!key.startsWith(prefix)) return undefined;
  const parts = key.slice(prefix.length).split('/');
  if (parts.length !== 2) return undefined;
  const [step, name] = parts as [string, string];
  if (!STEP_PATTERN.test(step) || !ARTIFACT_NAME_PATTERN.test(name) || name.includes('..') || step.includes('..'))
    return undefined;
  if (step === 'custody') return undefined;
  return `${step}/${name}`;
}

/** S3 user metadata travels as HTTP headers: ASCII only, bounded. */
export function metadataValue(value: string, max = 256): string {
  return encodeURIComponent(value).slice(0, max);
}
