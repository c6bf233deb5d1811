/**
 * Notifier kinds and how to build them from configuration. Adding a kind: one file exporting a
 * NotifierKind (its entry schema, config type and factory; see base.ts), plus one line in NOTIFIER_KINDS.
 *
 * Configuration is a list (YAML or JSON), e.g.
 *   - { type: pagerduty, name: pd-primary, routingKeyEnv: PD_ROUTING_KEY }
 *   - { type: opsgenie, name: og, apiKeyEnv: OPSGENIE_KEY, url: https://api.eu.opsgenie.com }
 *   - { type: slack, name: sec-channel, urlEnv: SLACK_WEBHOOK_URL }
 *   - { type: webhook, name: soar, url: https://soar.example.com/hooks/holdfast, secretEnv: SOAR_SECRET }
 * Secrets may be inline (routingKey / apiKey / url / secret) but *Env (an environment variable name,
 * resolved through NotifierDeps.secret) is preferred. Every problem is reported at startup, naming the
 * notifier and variable, never a value.
 *
 * The functions take the list of kinds as their last argument (default: every kind here), so a test can
 * add a kind without editing this file.
 */
import fs from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import YAML from 'yaml';
import type { NotifierSettings } from '../../common/config';
import type { Notifier } from '../../common/ports';
import { NotifierConfigError, type NotifierDeps, type NotifierKind } from './base';
import { opsgenieKind } from './opsgenie';
import { pagerdutyKind } from './pagerduty';
import { slackKind } from './slack';
import { webhookKind } from './webhook';

export const NOTIFIER_KINDS = [pagerdutyKind, opsgenieKind, slackKind, webhookKind] as const;

/** One configuration entry of any of these kinds. */
export type NotifierConfigOf<K extends readonly NotifierKind[]> = Static<K[number]['schema']>;
export type NotifierConfig = NotifierConfigOf<typeof NOTIFIER_KINDS>;

/** Schema of one configuration entry (also usable for documentation). */
export const NotifierConfigSchema = Type.Union(NOTIFIER_KINDS.map((k) => k.schema));

// The default for the functions below, widened so that it converts to their type parameter.
const EVERY_KIND: readonly NotifierKind[] = NOTIFIER_KINDS;

function kindOf(kinds: readonly NotifierKind[], type: unknown): NotifierKind | undefined {
  return kinds.find((k) => k.kind === type);
}

function knownKinds(kinds: readonly NotifierKind[]): string {
  return kinds.map((k) => k.kind).join(', ');
}

/** Parses a YAML or JSON list of notifier entries; errors name the entry index and field, never values. */
export function parseNotifierConfigs<K extends readonly NotifierKind[] = typeof NOTIFIER_KINDS>(
  text: string,
  kinds: K = EVERY_KIND as K,
): Array<NotifierConfigOf<K>> {
  let data: unknown;
  try {
    data = YAML.parse(text);
  } catch (err) {
    throw new NotifierConfigError(
      `notifier configuration is not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`,
    );
  }
  if (data === null || data === undefined) return [];
  if (!Array.isArray(data) || data.length > 100)
    throw new NotifierConfigError('notifier configuration must be a list of at most 100 entries');
  data.forEach((entry: unknown, i: number) => {
    const type = typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>).type : undefined;
    const kind = kindOf(kinds, type);
    if (!kind)
      throw new NotifierConfigError(
        `notifier configuration is invalid at /${i}/type: must be one of ${knownKinds(kinds)}`,
      );
    const first = [...Value.Errors(kind.schema, entry)][0];
    if (first)
      throw new NotifierConfigError(`notifier configuration is invalid at /${i}${first.path}: ${first.message}`);
  });
  return data as Array<NotifierConfigOf<K>>;
}

/**
 * The configured list: HOLDFAST_NOTIFIERS_FILE (a YAML/JSON file, operator-owned) or HOLDFAST_NOTIFIERS
 * (inline YAML/JSON), as `config.notifiers` carries them; neither → no notifiers.
 */
export function notifierConfigsFrom(
  source: Pick<NotifierSettings, 'file' | 'inline'>,
  readFile: (file: string) => string = (f) => fs.readFileSync(f, 'utf8'),
): NotifierConfig[] {
  const { file, inline } = source;
  if (file && inline) throw new NotifierConfigError('set HOLDFAST_NOTIFIERS_FILE or HOLDFAST_NOTIFIERS, not both');
  if (file) {
    let text: string;
    try {
      text = readFile(file);
    } catch (err) {
      throw new NotifierConfigError(
        `HOLDFAST_NOTIFIERS_FILE cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
    return parseNotifierConfigs(text);
  }
  return inline ? parseNotifierConfigs(inline) : [];
}

/** Builds one notifier; throws NotifierConfigError for an unknown type or a missing/invalid setting. */
export function createNotifier<K extends readonly NotifierKind[] = typeof NOTIFIER_KINDS>(
  config: NotifierConfigOf<K>,
  deps: NotifierDeps = {},
  kinds: K = EVERY_KIND as K,
): Notifier {
  const entry = config as { type?: unknown; name?: unknown };
  const kind = kindOf(kinds, entry.type);
  if (!kind)
    throw new NotifierConfigError(
      `notifier "${String(entry.name)}": unknown type "${String(entry.type)}" (known: ${knownKinds(kinds)})`,
    );
  return kind.create(config, deps);
}

/** Builds every configured notifier, keyed by name (the name the workflow and playbooks refer to). */
export function createNotifiers<K extends readonly NotifierKind[] = typeof NOTIFIER_KINDS>(
  configs: ReadonlyArray<NotifierConfigOf<K>>,
  deps: NotifierDeps = {},
  kinds: K = EVERY_KIND as K,
): Map<string, Notifier> {
  const out = new Map<string, Notifier>();
  for (const config of configs) {
    const name = (config as { name: string }).name;
    if (out.has(name)) throw new NotifierConfigError(`notifier "${name}" is configured twice`);
    out.set(name, createNotifier(config, deps, kinds));
  }
  return out;
}

export { NotifierConfigError, type NotifierDeps, type NotifierKind, type NotifierLogger } from './base';
export { NotifierRejected, NotifierUnavailable } from './http';
