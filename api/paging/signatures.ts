/**
 * The paging vendors' request authentication, as each documents it, over the exact bytes received. Pure
 * functions (no clock, no state): the receivers pass the time and the raw body. Every comparison is
 * constant-time over equal-length buffers, and every header is bounded before it is looked at, so a
 * malformed or oversized header is refused without hashing anything for it.
 */
import crypto from 'node:crypto';

/** A hex HMAC-SHA256 is 64 characters; anything else is refused before comparing. */
const HEX_MAC = /^[0-9a-f]{64}$/;

/** Equal-length, constant-time comparison of two ASCII strings (different lengths: false, without comparing). */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && crypto.timingSafeEqual(left, right);
}

function hmacHex(secret: string, ...parts: Array<string | Buffer>): string {
  const mac = crypto.createHmac('sha256', secret);
  for (const part of parts) mac.update(part);
  return mac.digest('hex');
}

/**
 * PagerDuty Webhooks v3: `X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the raw body>`, several
 * comma-separated while a subscription's secret rotates; the request is genuine when one of them matches.
 * PagerDuty signs no timestamp: replays are handled by the event id (see the receiver).
 */
export const PAGERDUTY_SIGNATURE_HEADER = 'x-pagerduty-signature';
/** More signatures than rotation produces (PagerDuty sends one or two) are refused unread. */
export const PAGERDUTY_MAX_SIGNATURES = 8;

export function pagerDutySignature(secret: string, body: Buffer): string {
  return `v1=${hmacHex(secret, body)}`;
}

export function verifyPagerDuty(secret: string, header: string | undefined, body: Buffer): boolean {
  if (typeof header !== 'string' || header.length === 0 || header.length > PAGERDUTY_MAX_SIGNATURES * 70) return false;
  const entries = header.split(',').map((s) => s.trim());
  if (entries.length > PAGERDUTY_MAX_SIGNATURES) return false;
  const expected = hmacHex(secret, body);
  let matched = false;
  // Every entry is compared, match or not, so the time taken does not say which one matched.
  for (const entry of entries) {
    const mac = entry.startsWith('v1=') ? entry.slice(3) : '';
    if (HEX_MAC.test(mac) && constantTimeEqual(mac, expected)) matched = true;
  }
  return matched;
}

/**
 * Slack: `X-Slack-Request-Timestamp: <unix seconds>` and `X-Slack-Signature: v0=<hex HMAC-SHA256 of
 * "v0:<timestamp>:<raw body>">` with the app's signing secret; Slack's own SDKs refuse a timestamp more than
 * five minutes from the clock, either way.
 */
export const SLACK_TIMESTAMP_HEADER = 'x-slack-request-timestamp';
export const SLACK_SIGNATURE_HEADER = 'x-slack-signature';
export const SLACK_TOLERANCE_SECONDS = 5 * 60;

export function slackSignature(secret: string, timestamp: number | string, body: Buffer): string {
  return `v0=${hmacHex(secret, `v0:${timestamp}:`, body)}`;
}

export type SlackVerdict = 'ok' | 'unsigned' | 'malformed' | 'stale' | 'mismatch';

export function verifySlack(
  secret: string,
  timestamp: string | undefined,
  signature: string | undefined,
  body: Buffer,
  nowSeconds: number,
): SlackVerdict {
  if (timestamp === undefined || signature === undefined) return 'unsigned';
  if (!/^[0-9]{1,12}$/.test(timestamp)) return 'malformed';
  const mac = signature.startsWith('v0=') ? signature.slice(3) : '';
  if (!HEX_MAC.test(mac)) return 'malformed';
  if (Math.abs(nowSeconds - Number(timestamp)) > SLACK_TOLERANCE_SECONDS) return 'stale';
  return constantTimeEqual(mac, hmacHex(secret, `v0:${timestamp}:`, body)) ? 'ok' : 'mismatch';
}

/**
 * Opsgenie's outgoing webhook signs nothing; what it documents is custom headers added to every call. Holdfast
 * asks for one, `X-Holdfast-Opsgenie-Token: <token>`, compared in constant time (hashed first, so the
 * comparison's length is fixed whatever was sent).
 */
export const OPSGENIE_TOKEN_HEADER = 'x-holdfast-opsgenie-token';

export function verifyToken(expected: string, presented: string | undefined): boolean {
  if (typeof presented !== 'string' || presented.length === 0 || presented.length > 1024) return false;
  const digest = (text: string) => crypto.createHash('sha256').update(text, 'utf8').digest();
  return crypto.timingSafeEqual(digest(presented), digest(expected));
}
