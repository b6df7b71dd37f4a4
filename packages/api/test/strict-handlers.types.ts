/**
 * Compile-time guards, checked by `tsc` (this file is in the package's tsconfig, not run by
 * vitest). If the generated types ever stop rejecting an undeclared status or a wrong body, or
 * nullable schedule fields lose their `| null`, the `@ts-expect-error` lines or the equality
 * assertions below stop compiling and the typecheck fails.
 */
import type { Handler, Handlers, Schemas } from '../src/index.js';

type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const assertTrue = <T extends true>(value: T): T => value;

// A handler may return its declared success status with the declared body.
export const health: Handlers['getHealth'] = () => ({ status: 200, body: { status: 'ok' } });

// @ts-expect-error 201 is not a declared response of getHealth.
export const healthCreated: Handlers['getHealth'] = () => ({ status: 201, body: { status: 'ok' } });

// @ts-expect-error the body must match the Health schema.
export const healthWrongBody: Handlers['getHealth'] = () => ({ status: 200, body: { up: true } });

const errorBody = { code: 'not_found', message: 'no such snapshot' };
// @ts-expect-error error statuses are thrown as domain errors, never returned.
export const notFound: Handler<'getSnapshot'> = () => ({ status: 404, body: errorBody });

// @ts-expect-error a 204 response has no body.
export const deleteWithBody: Handler<'deleteSnapshot'> = () => ({ status: 204, body: {} });

// Path parameters are typed by the spec: the snapshot route has `snapshotId`, not `id`.
export const readsPath: Handler<'deleteSnapshot'> = (request) => {
  const id: string = request.path.snapshotId;
  // @ts-expect-error there is no `id` parameter on /snapshots/{snapshotId}.
  void request.path.id;
  void id;
  return { status: 204 };
};

// BB-34 item 3: the schedule's history fields are exactly `string | null` (present, nullable).
type Schedule = Schemas['SnapshotSchedule'];
assertTrue<Equal<Schedule['last_run_at'], string | null>>(true);
assertTrue<Equal<Schedule['last_snapshot_id'], string | null>>(true);
assertTrue<Equal<Schedule['last_error'], string | null>>(true);
// BB-17: `max_count` is always present in a stored schedule's retention.
assertTrue<Equal<Schedule['retention']['max_count'], number>>(true);
