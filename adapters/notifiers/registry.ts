/**
 * Notifier kinds and how to build them from configuration. Adding a kind: one file with a class and a
 * config type, plus one entry in NOTIFIER_KINDS and one member in NotifierConfig.
 *
 * Configuration is a list (YAML or JSON), e.g.
 *   - { type: pagerduty, name: pd-primary, routingKeyEnv: PD_ROUTING_KEY }
 *   - { type: opsgenie, name: og, apiKeyEnv: OPSGENIE_KEY, url: https://api.eu.opsgenie.com }
 *   - { type: slack, name: sec-channel, urlEnv: SLACK_WEBHOOK_URL }
 *   - { type: webhook, name: soar, url: https://soar.example.com/hooks/holdfast, secretEnv: SOAR_SECRET }
 * Secrets may be inline (routingKey / apiKey / url / secret) but *Env (an environment variable name,
 * resolved through NotifierDeps.secret) is preferred. Every problem is reported at startup, naming the
 * notifier and variable, never a value.
 */
import fs from 'node:fs';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import YAML from 'yaml';
import type { Notifier } from '../../common/ports';
import type { NotifierSettings } from '../../common/config';
import { NotifierConfigError, type NotifierDeps } from './base';
import { OpsgenieNotifier, type OpsgenieConfig } from './opsgenie';
import { PagerDutyNotifier, type PagerDutyConfig } from './pagerduty';
import { SlackNotifier, type SlackConfig } from './slack';
import { WebhookNotifier, type WebhookConfig } from './webhook';

export type NotifierConfig = PagerDutyConfig | OpsgenieConfig | SlackConfig | WebhookConfig;

export const NOTIFIER_KINDS = {
  pagerduty: (c: NotifierConfig, deps: NotifierDeps) => new PagerDutyNotifier(c as PagerDutyConfig, deps),
  opsgenie: (c: NotifierConfig, deps: NotifierDeps) => new OpsgenieNotifier(c as OpsgenieConfig, deps),
  slack: (c: NotifierConfig, deps: NotifierDeps) => new SlackNotifier(c as SlackConfig, deps),
  webhook: (c: NotifierConfig, deps: NotifierDeps) => new WebhookNotifier(c as WebhookConfig, deps),
} as const satisfies Record<NotifierConfig['type'], (c: NotifierConfig, deps: NotifierDeps) => Notifier>;

const Name = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,62}$' });
const EnvName = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$' });
const Url = Type.String({ maxLength: 2048 });
const Timeout = Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000 }));

const ENTRY_SCHEMAS = {
  pagerduty: Type.Object({ type: Type.Literal('pagerduty'), name: Name, url: Type.Optional(Url), routingKey: Type.Optional(Type.String({ maxLength: 256 })), routingKeyEnv: Type.Optional(EnvName), timeoutMs: Timeout }, { additionalProperties: false }),
  opsgenie: Type.Object({
    type: Type.Literal('opsgenie'), name: Name, url: Type.Optional(Url), apiKey: Type.Optional(Type.String({ maxLength: 256 })), apiKeyEnv: Type.Optional(EnvName),
    responders: Type.Optional(Type.Array(Type.Object({
      type: Type.Union([Type.Literal('team'), Type.Literal('user'), Type.Literal('escalation'), Type.Literal('schedule')]),
      id: Type.Optional(Type.String({ maxLength: 128 })), name: Type.Optional(Type.String({ maxLength: 256 })), username: Type.Optional(Type.String({ maxLength: 256 })),
    }, { additionalProperties: false }), { maxItems: 50 })),
    tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 50 }), { maxItems: 17 })),
    timeoutMs: Timeout,
  }, { additionalProperties: false }),
  slack: Type.Object({ type: Type.Literal('slack'), name: Name, url: Type.Optional(Url), urlEnv: Type.Optional(EnvName), timeoutMs: Timeout }, { additionalProperties: false }),
  webhook: Type.Object({ type: Type.Literal('webhook'), name: Name, url: Url, secret: Type.Optional(Type.String({ maxLength: 1024 })), secretEnv: Type.Optional(EnvName), timeoutMs: Timeout }, { additionalProperties: false }),
} as const satisfies Record<NotifierConfig['type'], TSchema>;

/** Schema of one configuration entry (also usable for documentation). */
export const NotifierConfigSchema = Type.Union(Object.values(ENTRY_SCHEMAS));
type _SchemaMatches = Static<typeof NotifierConfigSchema> extends NotifierConfig ? true : never;
const _schemaMatches: _SchemaMatches = true;
void _schemaMatches;

/** Parses a YAML or JSON list of notifier entries; errors name the entry index and field, never values. */
export function parseNotifierConfigs(text: string): NotifierConfig[] {
  let data: unknown;
  try {
    data = YAML.parse(text);
  } catch (err) {
    throw new NotifierConfigError(`notifier configuration is not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  if (data === null || data === undefined) return [];
  if (!Array.isArray(data) || data.length > 100) throw new NotifierConfigError('notifier configuration must be a list of at most 100 entries');
  data.forEach((entry: unknown, i: number) => {
    const type = typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>).type : undefined;
    const schema = typeof type === 'string' ? (ENTRY_SCHEMAS as Record<string, TSchema>)[type] : undefined;
    if (!schema) throw new NotifierConfigError(`notifier configuration is invalid at /${i}/type: must be one of ${Object.keys(ENTRY_SCHEMAS).join(', ')}`);
    const first = [...Value.Errors(schema, entry)][0];
    if (first) throw new NotifierConfigError(`notifier configuration is invalid at /${i}${first.path}: ${first.message}`);
  });
  return data as NotifierConfig[];
}

/**
 * The configured list: HOLDFAST_NOTIFIERS_FILE (a YAML/JSON file, operator-owned) or HOLDFAST_NOTIFIERS
 * (inline YAML/JSON), as `config.notifiers` carries them; neither → no notifiers.
 */
export function notifierConfigsFrom(source: Pick<NotifierSettings, 'file' | 'inline'>, readFile: (file: string) => string = (f) => fs.readFileSync(f, 'utf8')): NotifierConfig[] {
  const { file, inline } = source;
  if (file && inline) throw new NotifierConfigError('set HOLDFAST_NOTIFIERS_FILE or HOLDFAST_NOTIFIERS, not both');
  if (file) {
    let text: string;
    try {
      text = readFile(file);
    } catch (err) {
      throw new NotifierConfigError(`HOLDFAST_NOTIFIERS_FILE cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return parseNotifierConfigs(text);
  }
  return inline ? parseNotifierConfigs(inline) : [];
}

/** Builds one notifier; throws NotifierConfigError for an unknown type or a missing/invalid setting. */
export function createNotifier(config: NotifierConfig, deps: NotifierDeps = {}): Notifier {
  const factory = (NOTIFIER_KINDS as Record<string, (c: NotifierConfig, d: NotifierDeps) => Notifier>)[config.type];
  if (!factory) throw new NotifierConfigError(`notifier "${String(config.name)}": unknown type "${String(config.type)}" (known: ${Object.keys(NOTIFIER_KINDS).join(', ')})`);
  return factory(config, deps);
}

/** Builds every configured notifier, keyed by name (the name the workflow and playbooks refer to). */
export function createNotifiers(configs: readonly NotifierConfig[], deps: NotifierDeps = {}): Map<string, Notifier> {
  const out = new Map<string, Notifier>();
  for (const config of configs) {
    if (out.has(config.name)) throw new NotifierConfigError(`notifier "${config.name}" is configured twice`);
    out.set(config.name, createNotifier(config, deps));
  }
  return out;
}

export { NotifierConfigError, type NotifierDeps, type NotifierLogger } from './base';
export { NotifierRejected, NotifierUnavailable } from './http';
