import fs from 'node:fs';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import YAML from 'yaml';
import { ALERT_SOURCES } from '../alerts/registry';
import {
  DEFAULT_CONTAIN_AFTER_SECONDS,
  type IncidentPlan,
  type PlannedContainment,
  type PlannedStep,
} from '../common/plan';
import { SEVERITIES, severityAtLeast, type Alert, type AlertTarget } from '../common/types';
import { findStep } from './steps/registry';
import { protectPlan } from './scope';

/**
 * Playbooks: one YAML file maps matchers (source, rule pattern, minimum severity, namespace, labels)
 * to the steps an incident runs, their parameters, approval gates and escalation. Validated once at
 * worker start with errors that name the offending path; the first matching playbook wins.
 */

const Duration = Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: '^[0-9]+(ms|s|m|h|d)$' })], {
  description: 'seconds, or a number with unit: 30s, 10m, 2h, 1d',
});
const NamePattern = Type.String({ minLength: 1, maxLength: 253, description: 'exact name, or a glob with *' });

/** Per-step overrides of the step's own timeouts (e.g. a longer memory capture on big pods). */
const TimeoutOverrides = {
  timeout: Type.Optional(Duration),
  heartbeatTimeout: Type.Optional(Duration),
  maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
};

const StepRef = Type.Union([
  Type.String({ minLength: 1, maxLength: 63 }),
  Type.Object(
    {
      name: Type.String({ minLength: 1, maxLength: 63 }),
      params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      ...TimeoutOverrides,
    },
    { additionalProperties: false },
  ),
]);

const ContainRef = Type.Union([
  Type.String({ minLength: 1, maxLength: 63 }),
  Type.Object(
    {
      name: Type.String({ minLength: 1, maxLength: 63 }),
      params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      ...TimeoutOverrides,
      approval: Type.Optional(
        Type.Object(
          {
            required: Type.Boolean(),
            timeout: Type.Optional(Duration),
            onTimeout: Type.Optional(Type.Union([Type.Literal('approve'), Type.Literal('reject')])),
          },
          { additionalProperties: false },
        ),
      ),
    },
    { additionalProperties: false },
  ),
]);

/** `sources` are the names of the accepted alert formats (the registry's, unless a test passes others). */
const playbookSchema = (sources: readonly string[]) =>
  Type.Object(
    {
      name: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }),
      match: Type.Optional(
        Type.Object(
          {
            sources: Type.Optional(
              Type.Array(Type.Union(sources.map((s) => Type.Literal(s))), { maxItems: sources.length }),
            ),
            rules: Type.Optional(Type.Array(NamePattern, { maxItems: 100 })),
            minSeverity: Type.Optional(Type.Union(SEVERITIES.map((s) => Type.Literal(s)))),
            namespaces: Type.Optional(Type.Array(NamePattern, { maxItems: 100 })),
            clusters: Type.Optional(Type.Array(NamePattern, { maxItems: 100 })),
            labels: Type.Optional(Type.Record(Type.String({ maxLength: 316 }), Type.String({ maxLength: 253 }))),
          },
          { additionalProperties: false },
        ),
      ),
      dryRun: Type.Optional(Type.Boolean()),
      preserve: Type.Optional(Type.Boolean()),
      capture: Type.Optional(Type.Array(StepRef, { maxItems: 16 })),
      contain: Type.Optional(Type.Array(ContainRef, { maxItems: 8 })),
      escalation: Type.Optional(
        Type.Object(
          {
            tiers: Type.Array(
              Type.Object(
                {
                  notifiers: Type.Array(Type.String({ minLength: 1, maxLength: 63 }), { maxItems: 16 }),
                  ackTimeout: Type.Optional(Duration),
                },
                { additionalProperties: false },
              ),
              { maxItems: 10 },
            ),
            repeatLastTier: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
          },
          { additionalProperties: false },
        ),
      ),
      undoContainmentOnResolve: Type.Optional(Type.Boolean()),
      /** Page tier 1 once planned and preserved; default: when the incident is high or critical by then. */
      pageOnOpen: Type.Optional(Type.Boolean()),
      /**
       * Containment waits for the captures at most this long (default 120 s), then proceeds while they go
       * on; the seal still waits for every capture.
       */
      containAfter: Type.Optional(Duration),
      autoCloseAfter: Type.Optional(Duration),
      /** An alert about a pod that does not exist is recorded and closed; page tier 1 about it too. */
      pageIfTargetNotFound: Type.Optional(Type.Boolean()),
      /** In HOLDFAST_PROTECTED_NAMESPACES memory capture is off; this playbook turns it back on. */
      inProtectedNamespaces: Type.Optional(
        Type.Object({ captureMemory: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
      ),
    },
    { additionalProperties: false },
  );

export const playbookFileSchema = (sources: readonly string[] = ALERT_SOURCES) =>
  Type.Object(
    {
      playbooks: Type.Array(playbookSchema(sources), { minItems: 1, maxItems: 200 }),
      /** Notifier definitions, handed to the notifier registry (see adapters/notifiers/). */
      notifiers: Type.Optional(Type.Array(Type.Record(Type.String(), Type.Unknown()), { maxItems: 100 })),
    },
    { additionalProperties: false },
  );

export type PlaybookSpec = Static<ReturnType<typeof playbookSchema>>;
export type PlaybookFile = Static<ReturnType<typeof playbookFileSchema>>;

export interface PlaybookOptions {
  apiBaseUrl: string;
  /** Notifiers defined outside the playbooks file (HOLDFAST_NOTIFIERS). */
  knownNotifiers?: string[];
  /** The sources `match.sources` may name (default: every registered alert format's). */
  alertSources?: readonly string[];
  /** HOLDFAST_PROTECTED_NAMESPACES: plans for targets there are restricted (activities/scope.ts). Default: none. */
  protectedNamespaces?: readonly string[];
}

export class PlaybookError extends Error {
  override name = 'PlaybookError';
}

export function parseDuration(value: number | string | undefined, fallbackSeconds: number): number {
  if (value === undefined) return fallbackSeconds;
  if (typeof value === 'number') return value;
  const match = /^([0-9]+)(ms|s|m|h|d)$/.exec(value)!;
  const n = Number(match[1]);
  const factor = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Math.max(1, Math.round(n * factor));
}

/** The playbook used when none is configured: the whole response, no approvals, page everyone configured. */
export function defaultPlaybook(notifierNames: string[]): PlaybookSpec {
  return {
    name: 'default',
    preserve: true,
    capture: ['filesystem', 'memory', 'logs', 'network', 'control'],
    contain: ['isolate'],
    escalation: {
      tiers: notifierNames.length > 0 ? [{ notifiers: notifierNames, ackTimeout: '15m' }] : [],
      repeatLastTier: 2,
    },
    undoContainmentOnResolve: false,
    autoCloseAfter: '7d',
  };
}

function globMatch(pattern: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  const regex = new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return regex.test(value);
}

export function matches(playbook: PlaybookSpec, alert: Alert, target: AlertTarget): boolean {
  const m = playbook.match;
  if (!m) return true;
  if (m.sources && !m.sources.includes(alert.source)) return false;
  if (m.rules && !m.rules.some((p) => globMatch(p, alert.rule))) return false;
  if (m.minSeverity && !severityAtLeast(alert.severity, m.minSeverity)) return false;
  if (m.namespaces && !m.namespaces.some((p) => globMatch(p, target.namespace))) return false;
  if (m.clusters && !m.clusters.some((p) => globMatch(p, target.cluster))) return false;
  if (m.labels && !Object.entries(m.labels).every(([k, v]) => alert.labels[k] === v)) return false;
  return true;
}

type StepOverrides = { timeout?: number | string; heartbeatTimeout?: number | string; maxAttempts?: number };

function resolveParams(
  stepName: string,
  where: string,
  params: Record<string, unknown> = {},
  kind: 'capture' | 'contain' | 'preserve',
  overrides: StepOverrides = {},
): PlannedStep {
  const step = findStep(stepName);
  if (!step) throw new PlaybookError(`${where}: unknown step "${stepName}"`);
  if (step.kind !== kind) throw new PlaybookError(`${where}: "${stepName}" is a ${step.kind} step, not a ${kind} step`);
  const withDefaults = Value.Default(step.params as TSchema, structuredClone(params)) as Record<string, unknown>;
  const errors = [...Value.Errors(step.params, withDefaults)];
  if (errors.length > 0) {
    throw new PlaybookError(`${where}.params${errors[0]!.path}: ${errors[0]!.message}`);
  }
  return {
    name: step.name,
    needsPod: step.needsPod,
    params: withDefaults,
    timeouts: {
      startToCloseSeconds: parseDuration(overrides.timeout, step.timeouts.startToCloseSeconds),
      heartbeatSeconds: parseDuration(overrides.heartbeatTimeout, step.timeouts.heartbeatSeconds),
      maximumAttempts: overrides.maxAttempts ?? step.timeouts.maximumAttempts,
    },
  };
}

export function planFor(playbook: PlaybookSpec, apiBaseUrl: string, where = `playbook ${playbook.name}`): IncidentPlan {
  const captures = (playbook.capture ?? []).map((ref, i) =>
    typeof ref === 'string'
      ? resolveParams(ref, `${where}.capture[${i}]`, {}, 'capture')
      : resolveParams(ref.name, `${where}.capture[${i}]`, ref.params, 'capture', ref),
  );
  const containment: PlannedContainment[] = (playbook.contain ?? []).map((ref, i) => {
    const spec = typeof ref === 'string' ? { name: ref } : ref;
    const planned = resolveParams(
      spec.name,
      `${where}.contain[${i}]`,
      'params' in spec ? spec.params : undefined,
      'contain',
      spec,
    );
    const approval = 'approval' in spec ? spec.approval : undefined;
    if (
      findStep(spec.name)?.requiresApproval &&
      (!approval?.required || (approval.onTimeout ?? 'reject') !== 'reject')
    ) {
      throw new PlaybookError(
        `${where}.contain[${i}]: ${spec.name} cannot be undone or takes a service down: it needs approval: { required: true } with onTimeout: reject`,
      );
    }
    return {
      ...planned,
      approval: {
        required: approval?.required ?? false,
        timeoutSeconds: parseDuration(approval?.timeout, 15 * 60),
        onTimeout: approval?.onTimeout ?? 'reject',
      },
    };
  });
  return {
    playbook: playbook.name,
    dryRun: playbook.dryRun ?? false,
    preserve: playbook.preserve === false ? null : resolveParams('preserve', `${where}.preserve`, {}, 'preserve'),
    captures,
    containment,
    escalation: {
      tiers: (playbook.escalation?.tiers ?? []).map((tier) => ({
        notifiers: tier.notifiers,
        ackTimeoutSeconds: parseDuration(tier.ackTimeout, 15 * 60),
      })),
      repeatLastTier: playbook.escalation?.repeatLastTier ?? 0,
    },
    undoContainmentOnResolve: playbook.undoContainmentOnResolve ?? false,
    ...(playbook.pageOnOpen === undefined ? {} : { pageOnOpen: playbook.pageOnOpen }),
    // At least a second: the network capture gets its chance before isolation.
    containAfterSeconds: Math.max(1, parseDuration(playbook.containAfter, DEFAULT_CONTAIN_AFTER_SECONDS)),
    autoCloseAfterHours: parseDuration(playbook.autoCloseAfter, 7 * 86400) / 3600,
    ...(playbook.pageIfTargetNotFound ? { pageIfTargetNotFound: true } : {}),
    apiBaseUrl,
  };
}

export interface Playbooks {
  file?: string;
  specs: PlaybookSpec[];
  notifiers: Array<Record<string, unknown>>;
  select(alert: Alert, target: AlertTarget): IncidentPlan;
}

/** Parses and validates a playbook document; every error names its path. */
export function parsePlaybooks(text: string, source: string, opts: PlaybookOptions): Playbooks {
  let doc: unknown;
  try {
    doc = YAML.parse(text, { maxAliasCount: 100 });
  } catch (err) {
    throw new PlaybookError(`${source}: not valid YAML: ${(err as Error).message}`);
  }
  const errors = [...Value.Errors(playbookFileSchema(opts.alertSources), doc)];
  if (errors.length > 0) {
    throw new PlaybookError(
      `${source}: ${errors
        .slice(0, 5)
        .map((e) => `${e.path || '/'}: ${e.message}`)
        .join('; ')}`,
    );
  }
  const file = doc as PlaybookFile;
  const notifiers = file.notifiers ?? [];
  const known = new Set([...(opts.knownNotifiers ?? []), ...notifiers.map((n) => String(n.name))]);
  const names = new Set<string>();
  file.playbooks.forEach((pb, i) => {
    if (names.has(pb.name)) throw new PlaybookError(`${source}: /playbooks/${i}/name: duplicate playbook "${pb.name}"`);
    names.add(pb.name);
    // Resolve once now so a bad step or parameter fails at start, not in the middle of an incident.
    planFor(pb, opts.apiBaseUrl, `${source}: /playbooks/${i}`);
    pb.escalation?.tiers.forEach((tier, t) =>
      tier.notifiers.forEach((n) => {
        if (!known.has(n))
          throw new PlaybookError(`${source}: /playbooks/${i}/escalation/tiers/${t}: unknown notifier "${n}"`);
      }),
    );
  });
  return buildPlaybooks(file.playbooks, notifiers, opts, source);
}

function buildPlaybooks(
  specs: PlaybookSpec[],
  notifiers: Array<Record<string, unknown>>,
  opts: PlaybookOptions,
  file?: string,
): Playbooks {
  const { apiBaseUrl, knownNotifiers: otherNotifiers = [], protectedNamespaces = [] } = opts;
  // The default playbook pages every notifier, whether defined here or in HOLDFAST_NOTIFIERS.
  const everyNotifier = [...new Set([...notifiers.map((n) => String(n.name)), ...otherNotifiers])];
  return {
    file,
    specs,
    notifiers,
    select(alert, target) {
      const chosen = specs.find((pb) => matches(pb, alert, target)) ?? defaultPlaybook(everyNotifier);
      return protectPlan(planFor(chosen, apiBaseUrl), target, {
        namespaces: protectedNamespaces,
        captureMemory: chosen.inProtectedNamespaces?.captureMemory === true,
      });
    },
  };
}

export function loadPlaybooks(file: string | undefined, opts: PlaybookOptions): Playbooks {
  if (!file) return buildPlaybooks([], [], opts);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new PlaybookError(`cannot read playbooks file ${file}: ${(err as Error).message}`);
  }
  return parsePlaybooks(text, file, opts);
}
