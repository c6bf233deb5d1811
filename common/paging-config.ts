/**
 * Two-way paging settings (read by common/config.ts's loadConfig, like every other setting): per vendor, the
 * secret its requests are authenticated with and who, in that vendor, is which Holdfast person. A vendor
 * without its secret has no receiver at all (its routes answer 404).
 */
import { ConfigError, type Env } from './config';

/** One vendor's receiver: its secret, and vendor user → Holdfast person (a responder in HOLDFAST_TOKENS). */
export interface PagingVendorSettings {
  secret: string;
  users: ReadonlyMap<string, string>;
}

/** By vendor (a receiver's `vendor` in api/routes/paging/registry.ts): only the configured ones. */
export type PagingSettings = Readonly<Record<string, PagingVendorSettings>>;

/** A Holdfast person, as HOLDFAST_TOKENS names them. */
const PERSON = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
/** A vendor's user id or name: PagerDuty `PXPGF42`, Slack `U012AB3CD`, Opsgenie `alice@example.com`. */
const VENDOR_USER = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;

/** `U123=alice,U456=bob`: vendor user → person; a vendor user named twice is a mistake, not a choice. */
export function parsePagingUsers(name: string, spec: string): Map<string, string> {
  const users = new Map<string, string>();
  for (const entry of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = entry.indexOf('=');
    const user = eq < 0 ? '' : entry.slice(0, eq).trim();
    const person = eq < 0 ? '' : entry.slice(eq + 1).trim();
    if (!VENDOR_USER.test(user) || !PERSON.test(person))
      throw new ConfigError(
        `${name}: "${entry.slice(0, 80)}" is not <vendor user>=<person> (the person as HOLDFAST_TOKENS names them)`,
      );
    if (users.has(user)) throw new ConfigError(`${name}: ${user} is mapped twice`);
    users.set(user, person);
  }
  return users;
}

/** Each vendor's variables: adding a vendor adds its line here (and its rows in README's Configuration). */
const VENDORS: Record<string, { secret: string; users: string; minBytes: number }> = {
  pagerduty: { secret: 'HOLDFAST_PAGERDUTY_WEBHOOK_SECRET', users: 'HOLDFAST_PAGERDUTY_USERS', minBytes: 16 },
  slack: { secret: 'HOLDFAST_SLACK_SIGNING_SECRET', users: 'HOLDFAST_SLACK_USERS', minBytes: 16 },
  // Holdfast chooses this token (it is not the vendor's): as long as the intake webhook secret.
  opsgenie: { secret: 'HOLDFAST_OPSGENIE_WEBHOOK_TOKEN', users: 'HOLDFAST_OPSGENIE_USERS', minBytes: 32 },
};

export function pagingSettings(env: Env): PagingSettings {
  const settings: Record<string, PagingVendorSettings> = {};
  for (const [vendor, names] of Object.entries(VENDORS)) {
    const secret = env[names.secret]?.trim() || undefined;
    const users = env[names.users]?.trim() || undefined;
    if (secret === undefined) {
      if (users !== undefined) throw new ConfigError(`${names.users} is set but ${names.secret} is not`);
      continue;
    }
    if (Buffer.byteLength(secret) < names.minBytes)
      throw new ConfigError(`${names.secret} must be at least ${names.minBytes} bytes`);
    // Without people nobody could act from this vendor: a receiver that refuses everything is a mistake.
    if (users === undefined) throw new ConfigError(`${names.secret} is set: ${names.users} must map its users`);
    settings[vendor] = { secret, users: parsePagingUsers(names.users, users) };
  }
  return settings;
}
