/**
 * The HTTP application: every operation of `openapi.yaml`, registered from the generated
 * operation table with its handler from `routes/`. Each request passes, in order:
 *
 * 1. authentication (bearer JWT) unless the operation is open,
 * 2. the body size limit,
 * 3. validation of the path parameters against the spec,
 * 4. resolution of the instance `{id}` names on `/instances/{id}/...` (404, 409 `ambiguous`),
 *    before anything else about the request is judged: a request for an instance that does
 *    not exist is a 404 even with an invalid body (BB-33, and hypeman's resolver middleware),
 * 5. validation of query, headers and body against the spec,
 * 6. the handler, whose result is rendered as the spec declares for its status.
 *
 * Errors thrown anywhere end in the one error handler (`http-errors.ts`).
 */
import { type Handlers, type OperationInfo, operationTable, type RawBody } from '@vmkeep/api';
import { spec } from '@vmkeep/api/spec';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { createAuthenticator } from './auth.js';
import type { ServerDeps } from './deps.js';
import { DomainError } from './domain/errors.js';
import { createErrorHandler, errorResponse, notFoundHandler } from './http-errors.js';
import { imagesRoutes } from './routes/images.js';
import { instancesRoutes } from './routes/instances.js';
import { metaRoutes } from './routes/meta.js';
import { snapshotScheduleRoutes } from './routes/snapshot-schedule.js';
import { snapshotsRoutes } from './routes/snapshots.js';
import { createRequestValidator } from './validation.js';

/** Largest request body accepted; every vmkeep request body is a small JSON object. */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface AppOptions {
  /** Replaces route handlers; for tests of the HTTP layer itself (routing, validation). */
  handlers?: Partial<Handlers>;
}

/** A handler's result as the dispatcher sees it, whatever its operation. */
interface AnyResult {
  status: number;
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string | undefined>;
}
type AnyHandler = (request: object) => AnyResult | Promise<AnyResult>;

function render(op: OperationInfo, result: AnyResult): Response {
  const mediaTypes = op.responses[result.status];
  // The generated types make this unreachable from typed handlers; it guards casts.
  if (!mediaTypes) throw new Error(`${op.operationId} returned undeclared status ${result.status}`);
  const headers = new Headers();
  for (const [name, value] of Object.entries(result.headers ?? {})) {
    if (value !== undefined) headers.set(name, value);
  }
  if (mediaTypes.length === 0) return new Response(null, { status: result.status, headers });
  if (mediaTypes[0] === 'application/json') {
    headers.set('Content-Type', 'application/json');
    return new Response(JSON.stringify(result.body), { status: result.status, headers });
  }
  const mediaType = result.contentType ?? mediaTypes[0];
  if (!mediaType || !mediaTypes.includes(mediaType)) {
    throw new Error(`${op.operationId} returned undeclared media type ${mediaType}`);
  }
  headers.set(
    'Content-Type',
    mediaType.startsWith('text/') ? `${mediaType}; charset=utf-8` : mediaType,
  );
  return new Response(result.body as RawBody, { status: result.status, headers });
}

/**
 * Operations that still reach their handler when `{id}` names no instance: a deleted
 * instance's schedule stays readable and deletable by the raw id (reference/hypeman.md §4.4),
 * so their handlers resolve the id themselves.
 */
const SERVED_WITHOUT_INSTANCE: ReadonlySet<string> = new Set([
  'getInstanceSnapshotSchedule',
  'deleteInstanceSnapshotSchedule',
]);

/** Step 4 of the pipeline for `op`: throws 404 / 409 for an `{id}` that names no instance. */
function instanceResolver(
  deps: ServerDeps,
  op: OperationInfo,
): ((path: Record<string, unknown>) => void) | undefined {
  if (op.path !== '/instances/{id}' && !op.path.startsWith('/instances/{id}/')) return undefined;
  const lenient = SERVED_WITHOUT_INSTANCE.has(op.operationId);
  return (path) => {
    try {
      deps.services.instances.get(String(path.id));
    } catch (error) {
      if (lenient && error instanceof DomainError && error.code === 'not_found') return;
      throw error;
    }
  };
}

/** Builds the application; `deps` is everything it needs from outside. */
export function createApp(deps: ServerDeps, options: AppOptions = {}): Hono {
  const handlers: Handlers = {
    ...metaRoutes(deps),
    ...imagesRoutes(deps),
    ...instancesRoutes(deps),
    ...snapshotsRoutes(deps),
    ...snapshotScheduleRoutes(deps),
    ...options.handlers,
  };
  const authenticate = createAuthenticator(deps.jwtSecret, () => deps.clock.now());
  const validator = createRequestValidator(spec, operationTable);
  const limitBody = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) =>
      errorResponse(c, {
        code: 'payload_too_large',
        message: `request body exceeds ${MAX_BODY_BYTES} bytes`,
      }),
  });

  const app = new Hono();
  app.onError(createErrorHandler(deps.logger));
  app.notFound(notFoundHandler);

  for (const op of operationTable) {
    // Dispatch is by operationId at run time; the per-operation typing is enforced where
    // `handlers` is assembled above, so one cast here loses nothing.
    const handler = handlers[op.operationId] as AnyHandler;
    const resolveInstance = instanceResolver(deps, op);
    app.on(
      op.method.toUpperCase(),
      op.honoPath,
      async (c, next) => {
        if (op.auth) await authenticate(c.req.header('Authorization'));
        await next();
      },
      limitBody,
      async (c: Context) => {
        const request = await validator.validate(op, c, resolveInstance);
        const result = await handler({ ...request, signal: c.req.raw.signal });
        return render(op, result);
      },
    );
  }
  return app;
}
