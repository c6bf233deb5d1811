/**
 * Every alert format Holdfast accepts. Adding one: a file in formats/ exporting an AlertFormat (made
 * with defineAlertFormat), plus one line here. The intake routes register one POST route per entry
 * (api/routes/alerts.ts); the list of alert sources (playbooks' `match.sources`, the incidents list's
 * `?source=` filter) and the AlertSource type are derived from it.
 */
import { alertmanagerFormat } from './formats/alertmanager';
import { falcoFormat } from './formats/falco';
import { genericFormat } from './formats/generic';
import { guarddutyFormat } from './formats/guardduty';
import type { AlertFormat } from './format';

export const ALERT_FORMATS = [
  falcoFormat,
  alertmanagerFormat,
  guarddutyFormat,
  genericFormat,
] as const satisfies readonly AlertFormat[];

/** The `source` of an alert: the name of the format it arrived in. */
export type AlertSource = (typeof ALERT_FORMATS)[number]['name'];

/** The sources alerts can have, given the formats accepted (each once, in the formats' order). */
export function alertSources<N extends string>(formats: ReadonlyArray<AlertFormat<N>>): N[] {
  return [...new Set(formats.map((f) => f.name))];
}

export const ALERT_SOURCES: readonly AlertSource[] = alertSources<AlertSource>(ALERT_FORMATS);

export function alertFormat(name: string): AlertFormat | undefined {
  return ALERT_FORMATS.find((f) => f.name === name);
}

export { AlertRejected, defineAlertFormat, type AlertFormat, type ParseContext } from './format';
