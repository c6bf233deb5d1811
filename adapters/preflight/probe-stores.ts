import { GetObjectLockConfigurationCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { BucketProbe, TemporalProbe, TimeSample } from './types';

/** The evidence bucket's Object Lock configuration and the S3 server's clock (its Date header). */
export function s3BucketProbe(s3: S3Client, bucket: string): BucketProbe {
  /** Runs the request and keeps the Date header of its HTTP answer (the SDK's output does not carry it). */
  async function withDate<T>(signal: AbortSignal, send: (abortSignal: AbortSignal) => Promise<T>) {
    let date: string | undefined;
    const sentAt = Date.now();
    const name = `holdfast-preflight-date-${sentAt}-${Math.random()}`;
    s3.middlewareStack.add(
      (next) => async (args) => {
        const out = await next(args);
        const headers = (out.response as { headers?: Record<string, string> }).headers;
        date = headers?.date ?? headers?.Date;
        return out;
      },
      { step: 'deserialize', name },
    );
    try {
      const value = await send(signal);
      return { value, date, sentAt, receivedAt: Date.now() };
    } finally {
      s3.middlewareStack.remove(name);
    }
  }
  return {
    bucket,
    async objectLock(signal) {
      try {
        const { value } = await withDate(signal, (abortSignal) =>
          s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }), { abortSignal }),
        );
        const config = value.ObjectLockConfiguration;
        const rule = config?.Rule?.DefaultRetention;
        return {
          enabled: config?.ObjectLockEnabled === 'Enabled',
          ...(rule?.Mode ? { mode: rule.Mode } : {}),
          ...(rule?.Days ? { days: rule.Days } : {}),
          ...(rule?.Years ? { years: rule.Years } : {}),
        };
      } catch (err) {
        const name = (err as { name?: string }).name ?? '';
        if (/ObjectLockConfigurationNotFound/.test(name)) return { enabled: false };
        throw err;
      }
    },
    async serverTime(signal): Promise<TimeSample> {
      let date: string | undefined;
      let sentAt = Date.now();
      let receivedAt = sentAt;
      try {
        const answer = await withDate(signal, (abortSignal) =>
          s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }), { abortSignal }),
        );
        ({ date, sentAt, receivedAt } = answer);
      } catch (err) {
        // Any answer has a Date header: a refusal (no permission, no lock) still tells the time.
        const response = (err as { $response?: { headers?: Record<string, string> } }).$response;
        date = response?.headers?.date;
        receivedAt = Date.now();
        if (!date) throw err;
      }
      if (!date) throw new Error('S3 sent no Date header');
      return { remote: new Date(date), sentAt, receivedAt };
    },
  };
}

const TYPE_NAMES: Record<number, string> = {
  [temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT]: 'Text',
  [temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]: 'Keyword',
  [temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT]: 'Int',
  [temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE]: 'Double',
  [temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_BOOL]: 'Bool',
  [temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME]: 'Datetime',
  [temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST]: 'KeywordList',
};

/** The Temporal namespace and its custom search attributes, through the frontend's own services. */
export function temporalProbe(
  connection: Pick<Connection, 'workflowService' | 'operatorService'>,
  namespace: string,
): TemporalProbe {
  return {
    namespace,
    async describeNamespace() {
      await connection.workflowService.describeNamespace({ namespace });
    },
    async searchAttributes() {
      const answer = await connection.operatorService.listSearchAttributes({ namespace });
      return Object.fromEntries(
        Object.entries(answer.customAttributes ?? {}).map(([name, type]) => [
          name,
          TYPE_NAMES[Number(type)] ?? String(type),
        ]),
      );
    },
  };
}
