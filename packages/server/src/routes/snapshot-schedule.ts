/**
 * Routes of the `snapshot-schedule` tag: `GET | PUT | DELETE /instances/{id}/snapshot-schedule`
 * (hypeman.md §3.2). `{id}` is an instance id, name or unique id prefix, resolved to the
 * canonical id before the schedule service is called.
 *
 * GET and DELETE fall back to the raw `{id}` when no instance matches: a deleted instance's
 * schedule keeps pruning its snapshots, so its owner must still be able to read `last_error`
 * and stop it (BB-12 design 1; hypeman review #9). PUT needs a live instance.
 */
import type { Schemas, SnapshotScheduleHandlers } from '@vmkeep/api';
import type { ServerDeps } from '../deps.js';
import { NotFoundError } from '../domain/errors.js';
import type { SnapshotScheduleView } from '../domain/schedules/index.js';

export function snapshotScheduleRoutes(deps: ServerDeps): SnapshotScheduleHandlers {
  const { instances, schedules } = deps.services;

  /** The canonical id `ref` names; 404 / 409 `ambiguous` as the instances' resolver says. */
  const instanceId = (ref: string) => instances.get(ref).id;

  /** As {@link instanceId}, but a ref no instance matches is taken as a deleted one's id. */
  const instanceIdOrRaw = (ref: string) => {
    try {
      return instanceId(ref);
    } catch (error) {
      if (error instanceof NotFoundError) return ref;
      throw error;
    }
  };

  return {
    getInstanceSnapshotSchedule: ({ path }) => ({
      status: 200,
      body: toWire(schedules.get(instanceIdOrRaw(path.id))),
    }),
    setInstanceSnapshotSchedule: ({ path, body }) => ({
      status: 200,
      body: toWire(schedules.put(instanceId(path.id), body)),
    }),
    deleteInstanceSnapshotSchedule: ({ path }) => {
      schedules.delete(instanceIdOrRaw(path.id));
      return { status: 204 };
    },
  };
}

/**
 * The spec's `SnapshotSchedule`: `name_prefix` is always present, null for the default prefix
 * (hypeman omits it; its SDK reads both the same way).
 */
function toWire(view: SnapshotScheduleView): Schemas['SnapshotSchedule'] {
  return { ...view, name_prefix: view.name_prefix ?? null };
}
