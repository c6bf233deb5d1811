import crypto from 'node:crypto';
import type { CustodyEntry, CustodyLog, SmallObjectWriter } from '../common/ports';
import { incidentPrefix } from './names';

export type CustodyWriter = SmallObjectWriter;

/** `20261128T145201123Z`: sortable, no characters that need escaping in a key. */
function compactTimestamp(iso: string): string {
  return iso.replace(/[-:]/g, '').replace('.', '');
}

/**
 * Custody log in S3: one small object per access under `incidents/<id>/custody/<ts>-<rand>.json`,
 * written under the same Object Lock as the evidence (S3 has no append; locked objects cannot be
 * rewritten or removed, so the log only grows).
 */
export function s3CustodyLog(store: CustodyWriter): CustodyLog {
  return {
    async append(entry: CustodyEntry) {
      const key = `${incidentPrefix(entry.incidentId)}custody/${compactTimestamp(entry.at)}-${crypto.randomBytes(6).toString('hex')}.json`;
      const bounded: CustodyEntry = {
        ...entry,
        from: {
          ip: entry.from.ip.slice(0, 64),
          ...(entry.from.userAgent ? { userAgent: entry.from.userAgent.slice(0, 256) } : {}),
        },
        objects: entry.objects.slice(0, 10_000),
        ...(entry.detail ? { detail: entry.detail.slice(0, 1000) } : {}),
      };
      const stored = await store.putSmallObject(key, Buffer.from(`${JSON.stringify(bounded)}\n`), 'application/json', {
        action: entry.action,
      });
      return { key: stored.key, versionId: stored.versionId };
    },
  };
}
