import type { Alert, AlertTarget, ArtifactRef } from '../common/types';

/** What the incident workflow hands the sealing activity once every capture has ended. */
export interface SealInput {
  incidentId: string;
  workflowId: string;
  runId: string;
  alerts: Alert[];
  target: AlertTarget;
  artifacts: ArtifactRef[];
  failures: Array<{ step: string; error: string }>;
}

export interface StoredObject {
  key: string;
  versionId?: string;
  size: number;
  sha256: string;
}

export interface SealResult {
  manifest: StoredObject;
  signature: StoredObject;
  keyId: string;
}

export type SealActivity = (input: SealInput) => Promise<SealResult>;
