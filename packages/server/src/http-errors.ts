/**
 * The one place errors become HTTP responses: a {@link DomainError} answers with its code's
 * status and `{code, message, details}`; a request the client abandoned ends quietly; anything
 * else is a bug, logged once here and answered with a bare 500 `internal_error` (no message or
 * stack reaches the client).
 *
 * A domain error that wraps another (a hypervisor failure: the domain keeps the driver's error
 * as `cause`) is logged here at warn, once, with that cause: the client gets the message, the
 * log keeps the driver's whole story (QEMU's stderr, the QMP command, the stack).
 */
import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from 'pino';
import { DomainError, type ErrorCode, statusOf } from './domain/errors.js';

/** The JSON error body of the API (`Error` in openapi.yaml). */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/** Answers with `{code, message, details?}` and the status that belongs to `code`. */
export function errorResponse(c: Context, body: ErrorBody): Response {
  return c.json(body, statusOf[body.code] as ContentfulStatusCode);
}

/** Hono's own exceptions (raised by its middleware) mapped onto the API's codes. */
function fromHttpException(error: HTTPException): ErrorBody | undefined {
  if (error.status === 413) return { code: 'payload_too_large', message: error.message };
  if (error.status === 400) return { code: 'invalid_request', message: error.message };
  if (error.status === 401) return { code: 'unauthorized', message: error.message };
  return undefined;
}

/** `app.onError`: maps domain errors, logs and hides everything else. */
export function createErrorHandler(logger: Logger): ErrorHandler {
  return (error, c) => {
    if (error instanceof DomainError) {
      if (error.cause !== undefined) {
        logger.warn(
          { err: error, code: error.code, method: c.req.method, path: c.req.path },
          'request failed in the hypervisor',
        );
      }
      const body: ErrorBody = { code: error.code, message: error.message };
      if (error.details !== undefined) body.details = error.details;
      return errorResponse(c, body);
    }
    if (error instanceof HTTPException) {
      const body = fromHttpException(error);
      if (body) return errorResponse(c, body);
    }
    if (c.req.raw.signal.aborted) {
      // The client left (a wait or a log follow cut short) and the work stopped with it: no
      // one reads this answer, and it is no server fault to log as an error. 499 is the
      // conventional "client closed request".
      logger.debug({ method: c.req.method, path: c.req.path }, 'request abandoned by the client');
      return new Response(null, { status: 499 });
    }
    logger.error({ err: error, method: c.req.method, path: c.req.path }, 'unhandled error');
    return errorResponse(c, { code: 'internal_error', message: 'internal error' });
  };
}

/** `app.notFound`: a JSON 404 for any path and method no operation declares. */
export const notFoundHandler: NotFoundHandler = (c) =>
  errorResponse(c, {
    code: 'not_found',
    // The path is echoed for the user's benefit, cut short so a huge URL is not reflected.
    message: `no operation for ${c.req.method} ${c.req.path.slice(0, 200)}`,
  });
