/** Which collector image to add and how long it lives. */
export interface CollectorConfig {
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** How long the collector's idle process lives: ephemeral containers cannot be removed, only end. */
  lifetimeSeconds: number;
  readyTimeoutMs: number;
}

export const DEFAULT_COLLECTOR: CollectorConfig = {
  image: 'docker.io/holdfast/collector:local',
  imagePullPolicy: 'IfNotPresent',
  lifetimeSeconds: 4 * 3600,
  readyTimeoutMs: 90_000,
};
