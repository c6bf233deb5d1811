import type { S3Client } from '@aws-sdk/client-s3';
import type { HoldfastConfig } from '../common/config';
import { createNotifyActivities, type NotifierLike } from './notify';
import { createNextIncidentActivities } from './next-incident';
import { createPlanActivities } from './plan';
import type { Playbooks } from './playbooks';
import type { Cluster, EvidenceStore, IncidentStarter } from '../common/ports';
import type { PreflightRunner } from '../common/preflight';
import { createPreflightActivities } from './preflight';
import type { HoldfastActivities, SealActivity } from './contract';
import { createSelfTestActivities } from './selftest';
import { createStepActivities, type StepObserver } from './steps/activities';

/** Everything activities need, built once by the worker and injected (tests pass fakes). */
export interface ActivityDeps {
  config: HoldfastConfig;
  s3: S3Client;
  cluster: Cluster;
  evidence: EvidenceStore;
  notifiers: ReadonlyMap<string, NotifierLike>;
  playbooks: Playbooks;
  sealEvidence: SealActivity;
  /** Opens incidents for alerts that arrived while one was closing (a Temporal client); unset: that fails. */
  incidents?: IncidentStarter;
  observeStep?: StepObserver;
  /** Runs the readiness checks (worker/preflight.ts); unset: the preflight activity fails saying so. */
  preflight?: PreflightRunner;
}

export function createActivities(deps: ActivityDeps): HoldfastActivities {
  return {
    ...createPlanActivities(deps.playbooks),
    ...createStepActivities(
      { cluster: deps.cluster, evidence: deps.evidence, clusterName: deps.config.scope.cluster },
      deps.observeStep,
    ),
    ...createNotifyActivities({ notifiers: deps.notifiers }),
    sealEvidence: deps.sealEvidence,
    ...createNextIncidentActivities(deps.incidents),
    ...createSelfTestActivities({ s3: deps.s3, bucket: deps.config.s3.bucket, retention: deps.config.retention }),
    ...createPreflightActivities(deps.preflight),
  };
}
