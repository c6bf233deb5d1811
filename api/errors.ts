import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/** An error the API reports as RFC 9457 problem details. */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail?: string,
    readonly extra: Record<string, unknown> = {},
    /** Response headers that go with it (e.g. Retry-After). */
    readonly headers: Record<string, string> = {},
  ) {
    super(detail ?? title);
  }
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function sendProblem(
  reply: FastifyReply,
  status: number,
  title: string,
  detail?: string,
  extra: Record<string, unknown> = {},
) {
  return reply
    .code(status)
    .type('application/problem+json')
    .send({ type: 'about:blank', title, status, ...(detail ? { detail } : {}), ...extra });
}

/** The one error handler: every failure leaves as application/problem+json, internals never leak. */
export function problemErrorHandler(error: FastifyError | HttpProblem, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof HttpProblem) {
    for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
    return sendProblem(reply, error.status, error.title, error.detail, error.extra);
  }
  if (error.validation) {
    const errors = error.validation.map((v) => ({
      field: `${error.validationContext ?? 'body'}${v.instancePath}`,
      message: v.message ?? 'invalid',
    }));
    return sendProblem(reply, 400, 'Bad Request', 'the request does not match its schema', { errors });
  }
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
  if (status >= 500) request.log.error({ err: error }, 'request failed');
  const detail = status >= 500 ? 'internal error; see the server log' : error.message;
  return sendProblem(reply, status, TITLES[status] ?? 'Error', detail);
}
