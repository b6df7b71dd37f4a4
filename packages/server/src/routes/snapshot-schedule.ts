/** Routes of the `snapshot-schedule` tag. */
import type { SnapshotScheduleHandlers } from '@vmkeep/api';
import type { ServerDeps } from '../deps.js';
import { notImplemented } from './not-implemented.js';

export function snapshotScheduleRoutes(_deps: ServerDeps): SnapshotScheduleHandlers {
  return {
    getInstanceSnapshotSchedule: notImplemented('getInstanceSnapshotSchedule'),
    setInstanceSnapshotSchedule: notImplemented('setInstanceSnapshotSchedule'),
    deleteInstanceSnapshotSchedule: notImplemented('deleteInstanceSnapshotSchedule'),
  };
}
