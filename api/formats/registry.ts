/**
 * Every alert format Holdfast accepts. Adding one: a new file exporting an AlertFormat, plus one line here.
 * The intake routes register one POST route per entry (api/routes/alerts.ts).
 */
import { alertmanagerFormat } from './alertmanager';
import { falcoFormat } from './falco';
import { genericFormat } from './generic';
import { guarddutyFormat } from './guardduty';
import type { AlertFormat } from './types';

export const ALERT_FORMATS: readonly AlertFormat[] = [
  falcoFormat,
  alertmanagerFormat,
  guarddutyFormat,
  genericFormat,
];

export function alertFormat(name: string): AlertFormat | undefined {
  return ALERT_FORMATS.find((f) => f.name === name);
}

export { AlertRejected, type AlertFormat, type ParseContext } from './types';
