/**
 * Fakes of the preflight's ports (adapters/preflight/types.ts): each answers what the test scripts and
 * records what it was asked, so the checks' judgement is tested without a cluster or stores.
 */
import { KUBERNETES_UNITS } from '../../adapters/kubernetes/registry';
import type {
  AccessQuestion,
  BucketProbe,
  CheckpointProbeResult,
  ClusterProbe,
  CollectorProbeResult,
  EnabledStep,
  IdentityAccess,
  NetworkPolicyProbeResult,
  PreflightDeps,
  TemporalProbe,
  TimeSample,
} from '../../adapters/preflight/types';
import type { KubernetesIdentity } from '../../adapters/kubernetes/units';

/** An identity allowed everything but `denied` ("verb resource[/sub]" strings); records each question. */
export class FakeIdentity implements IdentityAccess {
  readonly asked: AccessQuestion[] = [];
  constructor(
    readonly identity: KubernetesIdentity,
    private readonly denied: string[] = [],
    readonly source = 'fake',
  ) {}
  async review(q: AccessQuestion) {
    this.asked.push(q);
    const resource = `${q.resource}${q.subresource ? `/${q.subresource}` : ''}`;
    return { allowed: !this.denied.includes(`${q.verb} ${resource}`) };
  }
}

export class FakeClusterProbe implements ClusterProbe {
  source = 'fake operator';
  labels: Record<string, string> = {};
  collectorResult: CollectorProbeResult = { outcome: 'ran', ptrace: true, detail: 'read /proc/1/root' };
  networkResult: NetworkPolicyProbeResult = {
    outcome: 'probed',
    reachableBefore: true,
    reachableWithDeny: false,
    detail: 'refused 1.0 s after',
  };
  checkpointResult: CheckpointProbeResult = { status: 500, supported: false, reason: 'unsupported here' };
  /** Offset of the API server's clock from the local one, ms. */
  offsetMs = 0;
  sweeps: string[] = [];
  async namespaceLabels() {
    return this.labels;
  }
  async collector() {
    return this.collectorResult;
  }
  async networkPolicy() {
    return this.networkResult;
  }
  async checkpoint() {
    return this.checkpointResult;
  }
  async serverTime(): Promise<TimeSample> {
    return sampleAt(this.offsetMs);
  }
  async sweep(namespace: string) {
    this.sweeps.push(namespace);
    return [];
  }
}

/** A Date header `offsetMs` from now (whole seconds, as HTTP sends it), asked and answered instantly. */
export function sampleAt(offsetMs: number, now = Date.now()): TimeSample {
  return { remote: new Date(Math.floor((now + offsetMs) / 1000) * 1000), sentAt: now, receivedAt: now };
}

export class FakeBucket implements BucketProbe {
  bucket = 'evidence';
  lock: Awaited<ReturnType<BucketProbe['objectLock']>> = { enabled: true, mode: 'GOVERNANCE', days: 1 };
  offsetMs = 0;
  failure?: Error;
  async objectLock() {
    if (this.failure) throw this.failure;
    return this.lock;
  }
  async serverTime() {
    if (this.failure) throw this.failure;
    return sampleAt(this.offsetMs);
  }
}

export class FakeTemporal implements TemporalProbe {
  namespace = 'holdfast';
  attributes: Record<string, string> = { HoldfastStatus: 'Keyword' };
  failure?: Error & { code?: number };
  async describeNamespace() {
    if (this.failure) throw this.failure;
  }
  async searchAttributes() {
    return this.attributes;
  }
}

/** The default playbook's steps, as worker/preflight.ts's enabledSteps finds them without a playbooks file. */
export const DEFAULT_STEPS: EnabledStep[] = ['preserve', 'filesystem', 'memory', 'logs', 'network', 'isolate'].map(
  (name) => ({ name, params: name === 'memory' ? { tryCheckpoint: false } : {}, playbooks: ['default'] }),
);

export function fakeDeps(overrides: Partial<PreflightDeps> = {}): PreflightDeps & {
  probe: FakeClusterProbe;
  bucket: FakeBucket;
  temporal: FakeTemporal;
} {
  return {
    identities: [new FakeIdentity('capture'), new FakeIdentity('containment')],
    probe: new FakeClusterProbe(),
    bucket: new FakeBucket(),
    temporal: new FakeTemporal(),
    namespace: 'team-a',
    collector: { image: `docker.io/holdfast/collector@sha256:${'a'.repeat(64)}` },
    retention: { mode: 'GOVERNANCE', days: 30 },
    enabledSteps: DEFAULT_STEPS,
    units: KUBERNETES_UNITS,
    searchAttributes: { HoldfastStatus: 'Keyword' },
    maxSkewMs: 5000,
    now: Date.now,
    ...overrides,
  } as PreflightDeps & { probe: FakeClusterProbe; bucket: FakeBucket; temporal: FakeTemporal };
}
