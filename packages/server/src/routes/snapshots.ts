/** Routes of the `snapshots` tag. */
import type { SnapshotsHandlers } from '@vmkeep/api';
import type { ServerDeps } from '../deps.js';
import { notImplemented } from './not-implemented.js';

export function snapshotsRoutes(_deps: ServerDeps): SnapshotsHandlers {
  return {
    createInstanceSnapshot: notImplemented('createInstanceSnapshot'),
    restoreInstanceSnapshot: notImplemented('restoreInstanceSnapshot'),
    listSnapshots: notImplemented('listSnapshots'),
    getSnapshot: notImplemented('getSnapshot'),
    updateSnapshot: notImplemented('updateSnapshot'),
    deleteSnapshot: notImplemented('deleteSnapshot'),
    forkSnapshot: notImplemented('forkSnapshot'),
  };
}
