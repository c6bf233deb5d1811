/**
 * Slack incoming webhook: POST `{text, blocks[]}` (Block Kit) to the webhook URL, which is itself the
 * secret (never logged: previews show only its origin). Alert text is attacker-influenced: the summary
 * goes into a plain_text object (not parsed as mrkdwn), and all text, plain or mrkdwn, is escaped
 * (&, <, >), so no `<!channel>` mention or forged `<url|label>` link can be injected. Limits: header 150 chars, section text
 * 3000, button text 75. Slack answers 200 "ok"; 400 invalid_payload, 403/404/410 are configuration errors.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Severity } from '../../common/types';
import type { NotificationEvent } from '../../common/ports';
import {
  EnvName,
  HttpNotifier,
  Url,
  checkUrl,
  clip,
  limit,
  notifierEntry,
  notifierKind,
  actionPrefix,
  detailsHeading,
  approvalLines,
  detailLines,
  resolveSecret,
  safeLink,
  targetText,
  type NotifierDeps,
} from './base';
import type { HttpRequest } from './http';

export const SlackConfigSchema = notifierEntry('slack', {
  /** The incoming-webhook URL (a secret: prefer urlEnv). */
  url: Type.Optional(Url),
  urlEnv: Type.Optional(EnvName),
});
export type SlackConfig = Static<typeof SlackConfigSchema>;

/** Escapes the three characters Slack's mrkdwn treats as control characters. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const EMOJI: Record<Severity, string> = {
  critical: ':red_circle:',
  high: ':large_orange_circle:',
  medium: ':large_yellow_circle:',
  low: ':large_blue_circle:',
  info: ':white_circle:',
};

export class SlackNotifier extends HttpNotifier {
  readonly kind = 'slack';
  private readonly url: string;

  constructor(config: SlackConfig, deps: NotifierDeps = {}) {
    const url = checkUrl(
      config.name,
      resolveSecret(config.name, config.url, config.urlEnv, 'url', deps.secret) as string,
    );
    const path = new URL(url).pathname;
    super({
      name: config.name,
      timeoutMs: config.timeoutMs,
      secrets: [url, ...(path.length > 8 ? [path] : [])],
      logger: deps.logger,
    });
    this.url = url;
  }

  protected override displayUrl(url: string): string {
    return `${new URL(url).origin}/[redacted]`;
  }

  request(event: NotificationEvent): HttpRequest {
    // '|' and '>' would end a mrkdwn link early.
    const incident = safeLink(event.links.incident)?.replace(/\|/g, '%7C').replace(/>/g, '%3E');
    const history = safeLink(event.links.history);
    const target = slackEscape(targetText(event.target));
    const title = clip(event.title || event.summary, 140);
    let body: { text: string; blocks: unknown[] };
    if (event.action === 'resolve') {
      body = {
        text: `Resolved: ${slackEscape(title)} (${target})`,
        blocks: [
          {
            type: 'section',
            text: { type: 'mrkdwn', text: `:white_check_mark: *Resolved* — ${slackEscape(title)}\n${target}` },
          },
          {
            type: 'context',
            elements: [
              {
                type: 'mrkdwn',
                text: clip(
                  `Holdfast incident \`${slackEscape(event.incidentId)}\`${incident ? ` · <${incident}|open>` : ''}`,
                  3000,
                ),
              },
            ],
          },
        ],
      };
    } else {
      const buttons = [
        ...decisionButtons(event),
        incident && {
          type: 'button',
          text: { type: 'plain_text', text: 'Open incident' },
          url: incident,
          style: 'primary',
        },
        history && { type: 'button', text: { type: 'plain_text', text: 'History' }, url: history },
      ].filter(Boolean);
      const prefix = actionPrefix(event);
      // Holdfast's own text, escaped all the same: the approval commands as code, what it does as a list.
      const extra = [
        ...(event.approval
          ? [
              {
                type: 'section',
                text: {
                  type: 'mrkdwn',
                  text: limit(
                    `*How to decide*\n\`\`\`${slackEscape(approvalLines(event.approval).join('\n'))}\`\`\``,
                    3000,
                  ),
                },
              },
            ]
          : []),
        ...(event.details?.length
          ? [
              {
                type: 'section',
                text: {
                  type: 'mrkdwn',
                  text: limit(
                    `*${detailsHeading(event)}*\n${detailLines(event)
                      .map((l) => `• ${slackEscape(l)}`)
                      .join('\n')}`,
                    3000,
                  ),
                },
              },
            ]
          : []),
      ];
      body = {
        text: `${EMOJI[event.severity]} ${slackEscape(prefix)}[${event.severity}] ${slackEscape(title)} (${target})`,
        blocks: [
          {
            type: 'header',
            text: {
              type: 'plain_text',
              text: clip(slackEscape(`${prefix}${event.severity.toUpperCase()}: ${title}`), 150),
            },
          },
          {
            type: 'section',
            fields: [
              { type: 'mrkdwn', text: `*Severity*\n${EMOJI[event.severity]} ${event.severity}` },
              { type: 'mrkdwn', text: `*Tier*\n${event.tier}` },
              { type: 'mrkdwn', text: clip(`*Target*\n${target}`, 2000) },
              {
                type: 'mrkdwn',
                text: clip(
                  `*Incident*\n${incident ? `<${incident}|${slackEscape(event.incidentId)}>` : slackEscape(event.incidentId)}`,
                  2000,
                ),
              },
            ],
          },
          // plain_text is not parsed as mrkdwn; it is escaped as well, so no renderer can turn it into a mention or link.
          ...(event.summary
            ? [
                {
                  type: 'section',
                  text: { type: 'plain_text', text: clip(slackEscape(event.summary), 3000), emoji: false },
                },
              ]
            : []),
          ...extra,
          ...(buttons.length > 0 ? [{ type: 'actions', elements: buttons }] : []),
        ],
      };
    }
    return {
      method: 'POST',
      url: this.url,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    };
  }
}

/**
 * The buttons a responder answers from Slack (api/routes/paging/slack.ts receives the clicks): Approve and
 * Reject while a gate waits, and Acknowledge. Their value names the incident and the step, both Holdfast's
 * own; the Slack app's signing secret authenticates the click, and the Slack user must be a mapped responder.
 */
export function decisionButtons(event: NotificationEvent): object[] {
  const value = (step?: string) => JSON.stringify({ incident: event.incidentId, ...(step ? { step } : {}) });
  const step = event.action === 'approval' ? event.approval?.step : undefined;
  return [
    ...(step
      ? [
          {
            type: 'button',
            action_id: 'holdfast.approve',
            text: { type: 'plain_text', text: clip(`Approve ${step}`, 75) },
            style: 'primary',
            value: value(step),
            // A containment action on a phone screen: one more tap, never a slip of the thumb.
            confirm: {
              title: { type: 'plain_text', text: clip(`Approve ${step}?`, 100) },
              text: { type: 'plain_text', text: clip(`Holdfast runs ${step} as soon as you approve.`, 300) },
              confirm: { type: 'plain_text', text: 'Approve' },
              deny: { type: 'plain_text', text: 'Cancel' },
            },
          },
          {
            type: 'button',
            action_id: 'holdfast.reject',
            text: { type: 'plain_text', text: clip(`Reject ${step}`, 75) },
            style: 'danger',
            value: value(step),
          },
        ]
      : []),
    {
      type: 'button',
      action_id: 'holdfast.acknowledge',
      text: { type: 'plain_text', text: 'Acknowledge' },
      value: value(),
    },
  ];
}

export const slackKind = notifierKind(SlackConfigSchema, (config, deps) => new SlackNotifier(config, deps));
