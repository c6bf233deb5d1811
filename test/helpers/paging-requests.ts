/**
 * Requests in each paging vendor's documented shape and signature scheme, for the receiver tests (unit and
 * integration): PagerDuty Webhooks v3 events, Slack block_actions interactions (form-encoded `payload=`),
 * Opsgenie webhook-integration alert actions.
 */
import crypto from 'node:crypto';
import type { TokenHolder } from '../../api/auth';
import type { PagingSettings } from '../../common/paging-config';
import {
  OPSGENIE_TOKEN_HEADER,
  PAGERDUTY_SIGNATURE_HEADER,
  SLACK_SIGNATURE_HEADER,
  SLACK_TIMESTAMP_HEADER,
  pagerDutySignature,
  slackSignature,
} from '../../api/paging/signatures';

export interface VendorRequest {
  body: Buffer;
  headers: Record<string, string>;
}

/** A v3 webhook event as PagerDuty sends it, for a Holdfast incident (its incident_key). */
export function pagerDutyEvent(
  eventType: string,
  incidentKey: string,
  agentId: string,
  eventId: string = crypto.randomUUID(),
): Record<string, unknown> {
  return {
    event: {
      id: eventId,
      event_type: eventType,
      resource_type: 'incident',
      occurred_at: new Date().toISOString(),
      agent: {
        html_url: `https://acme.pagerduty.com/users/${agentId}`,
        id: agentId,
        self: `https://api.pagerduty.com/users/${agentId}`,
        summary: 'On-call engineer',
        type: 'user_reference',
      },
      client: null,
      data: {
        id: 'PT4KHLK',
        type: 'incident',
        self: 'https://api.pagerduty.com/incidents/PT4KHLK',
        html_url: 'https://acme.pagerduty.com/incidents/PT4KHLK',
        number: 1234,
        status: eventType === 'incident.resolved' ? 'resolved' : 'acknowledged',
        incident_key: incidentKey,
        created_at: new Date().toISOString(),
        title: 'Incident opened: [high] Terminal shell in container',
        service: { id: 'PIJ90N7', type: 'service_reference', summary: 'Holdfast' },
        assignees: [],
        escalation_policy: { id: 'PUS0KTE', type: 'escalation_policy_reference' },
        teams: [],
        urgency: 'high',
      },
    },
  };
}

/** Signed as PagerDuty signs (`secrets`: several while a secret rotates). */
export function pagerDutyRequest(payload: unknown, ...secrets: string[]): VendorRequest {
  const body = Buffer.from(JSON.stringify(payload));
  return {
    body,
    headers: {
      'content-type': 'application/json',
      [PAGERDUTY_SIGNATURE_HEADER]: secrets.map((s) => pagerDutySignature(s, body)).join(','),
    },
  };
}

/** A block_actions interaction: one button clicked by `userId`. */
export function slackClick(
  userId: string,
  actionId: string,
  value: Record<string, string>,
  actionTs = `${Math.floor(Date.now() / 1000)}.${crypto.randomInt(100000, 999999)}`,
): Record<string, unknown> {
  return {
    type: 'block_actions',
    user: { id: userId, username: 'oncall', name: 'oncall', team_id: 'T0001' },
    api_app_id: 'A0001',
    token: 'verification-token-not-used',
    container: { type: 'message', message_ts: '1700000000.000100', channel_id: 'C0001', is_ephemeral: false },
    trigger_id: '123.456.abc',
    team: { id: 'T0001', domain: 'acme' },
    channel: { id: 'C0001', name: 'security' },
    response_url: 'https://hooks.slack.com/actions/T0001/1/abc',
    actions: [
      {
        action_id: actionId,
        block_id: 'b1',
        text: { type: 'plain_text', text: 'Button', emoji: true },
        value: JSON.stringify(value),
        type: 'button',
        action_ts: actionTs,
      },
    ],
  };
}

/** Form-encoded `payload=` and signed as Slack signs, at `nowMs`. */
export function slackRequest(payload: unknown, secret: string, nowMs = Date.now()): VendorRequest {
  const body = Buffer.from(new URLSearchParams({ payload: JSON.stringify(payload) }).toString());
  const timestamp = Math.floor(nowMs / 1000);
  return {
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      [SLACK_TIMESTAMP_HEADER]: String(timestamp),
      [SLACK_SIGNATURE_HEADER]: slackSignature(secret, timestamp, body),
    },
  };
}

/** Alert action data as Opsgenie's Webhook integration posts it (Acknowledge, Close, …). */
export function opsgenieAction(
  action: string,
  alias: string,
  username: string,
  updatedAt: number = Date.now() * 1000,
): Record<string, unknown> {
  return {
    source: { name: '', type: 'web' },
    alert: {
      updatedAt,
      tags: ['holdfast', 'severity:high'],
      message: 'Incident opened: [high] Terminal shell in container',
      username,
      alertId: '052652ac-5d1c-464a-812a-7dd18bbfba8c',
      source: 'Holdfast',
      alias,
      tinyId: '23',
      createdAt: Date.now(),
      userId: 'daed1180-0ce8-438b-8f8e-57e1a5920a2d',
      entity: 'test/shop/web-1',
    },
    action,
    integrationId: '37c8f316-17c6-49d7-899b-9c7e540c048d',
    integrationName: 'Holdfast',
  };
}

export function opsgenieRequest(payload: unknown, token: string): VendorRequest {
  return {
    body: Buffer.from(JSON.stringify(payload)),
    headers: { 'content-type': 'application/json', [OPSGENIE_TOKEN_HEADER]: token },
  };
}

/**
 * The people of the paging tests: alice is a responder, mapped in every vendor; bob is mapped too but holds an
 * investigator token only, so he may not act. Users: PagerDuty PXPGF42/PBOBBOB, Slack U012AB3CD/U0BOB, Opsgenie
 * alice@example.com.
 */
export function pagingPeople(secrets: { pagerduty: string; slack: string; opsgenie: string }): {
  settings: PagingSettings;
  tokens: Map<string, TokenHolder>;
} {
  const users = (alice: string, bob?: string) => new Map([[alice, 'alice'], ...(bob ? [[bob, 'bob'] as const] : [])]);
  return {
    settings: {
      pagerduty: { secret: secrets.pagerduty, users: users('PXPGF42', 'PBOBBOB') },
      slack: { secret: secrets.slack, users: users('U012AB3CD', 'U0BOB') },
      opsgenie: { secret: secrets.opsgenie, users: users('alice@example.com') },
    },
    tokens: new Map([
      ['responder-alice-0123456789', { role: 'responder', name: 'alice' }],
      ['investigator-bob-0123456789', { role: 'investigator', name: 'bob' }],
    ]),
  };
}
