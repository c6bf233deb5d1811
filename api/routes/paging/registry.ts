/**
 * Two-way paging receivers. Adding a vendor: one file next to these exporting a PagingReceiver (its routes,
 * authenticated the way that vendor signs), plus one line in PAGING_RECEIVERS (and its settings in
 * common/paging-config.ts). A vendor whose secret is not configured gets no routes: its URL answers 404.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { PagingSettings } from '../../../common/paging-config';
import type { PagingReceiver, PagingReceiverDeps } from '../../paging/receiver';
import { opsgenieReceiver } from './opsgenie';
import { pagerdutyReceiver } from './pagerduty';
import { slackReceiver } from './slack';

export const PAGING_RECEIVERS: readonly PagingReceiver[] = [pagerdutyReceiver, slackReceiver, opsgenieReceiver];

/** The route groups of every configured vendor, for ServerDeps.routes. */
export function pagingRoutes(
  settings: PagingSettings,
  deps: Omit<PagingReceiverDeps, 'settings'>,
  receivers: readonly PagingReceiver[] = PAGING_RECEIVERS,
): FastifyPluginAsync[] {
  return receivers.flatMap((receiver) => {
    const vendor = settings[receiver.vendor];
    return vendor ? [receiver.routes({ ...deps, settings: vendor })] : [];
  });
}
