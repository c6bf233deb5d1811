import { isValidName, stripControlChars, truncateUtf8 } from './k8s-names';
import { SEVERITIES, type AlertTarget, type Severity } from './types';

/** The rule's share of the summary, in UTF-8 bytes: enough to tell rules apart in a list. */
export const SUMMARY_RULE_BYTES = 96;
/** The target's share: a long pod name is cut rather than pushing the rule out of view. */
export const SUMMARY_TARGET_BYTES = 200;

/**
 * The one line the Temporal UI shows for an incident (the workflow's static summary), so responders can
 * tell incidents apart in its list: severity, where, and which rule, e.g.
 * ``high · prod/shop/web-1 · `Terminal shell in container` ``.
 *
 * Built only from what intake validated: the target's names (checked again here: only [A-Za-z0-9._-]
 * reaches the line), the severity (one of SEVERITIES) and the rule. The rule is sender text (a Falco rule,
 * an alertname, a GuardDuty type) and the UI renders the summary as markdown, so it is bounded, stripped
 * of control characters and backticks and set in a code span, where markdown forms no links or markup. The
 * alert's free text (`summary`, Falco's `output`) never goes in: it is the attacker's.
 */
export function incidentSummary(target: AlertTarget, first?: { rule?: string; severity?: Severity }): string {
  const name = (kind: 'cluster' | 'namespace' | 'pod' | 'node', value: string | undefined) =>
    value !== undefined && isValidName(kind, value) ? value : '?';
  const where = target.pod
    ? `${name('cluster', target.cluster)}/${name('namespace', target.namespace)}/${name('pod', target.pod)}`
    : `${name('cluster', target.cluster)}/node/${name('node', target.node)}`;
  const parts = [truncateUtf8(where, SUMMARY_TARGET_BYTES)];
  if (first?.severity && (SEVERITIES as readonly string[]).includes(first.severity)) parts.unshift(first.severity);
  const rule = truncateUtf8(stripControlChars((first?.rule ?? '').replace(/`/g, "'")), SUMMARY_RULE_BYTES);
  if (rule) parts.push(`\`${rule}\``);
  return parts.join(' · ');
}

/** The storm incident's line: Holdfast's own words and the validated cluster name only. */
export function stormSummary(cluster: string): string {
  return `storm · ${isValidName('cluster', cluster) ? cluster : '?'} · alerts beyond the incident creation limits`;
}
