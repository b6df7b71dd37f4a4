/**
 * Routes of the `snapshots` tag: take, list, read, change and delete snapshots, restore an
 * instance from one, and fork one into a new instance.
 */
import type { SnapshotsHandlers } from '@vmkeep/api';
import type { ServerDeps } from '../deps.js';
import { pageHeaders, pageRequest } from './paging.js';

export function snapshotsRoutes(deps: ServerDeps): SnapshotsHandlers {
  const { snapshots, instances } = deps.services;
  const view = snapshots.view.bind(snapshots);

  return {
    // A capture holds the instance for as long as the bytes take to write; a request that
    // finds it busy answers 409 `conflict` at once rather than queueing behind it (BB-29).
    createInstanceSnapshot: async ({ path, body }) => ({
      status: 201,
      body: view(await snapshots.create(path.id, body ?? {}, { lock: 'fail' })),
    }),

    restoreInstanceSnapshot: async ({ path, body }) => ({
      status: 200,
      body: instances.view(await snapshots.restore(path.id, path.snapshotId, body ?? {})),
    }),

    listSnapshots: ({ query }) => {
      const page = snapshots.list(
        {
          source_instance_id: query.source_instance_id,
          kind: query.kind,
          name: query.name,
          tags: query.tags,
        },
        pageRequest(query),
      );
      return { status: 200, body: page.items.map(view), headers: pageHeaders(page) };
    },

    getSnapshot: ({ path }) => ({ status: 200, body: view(snapshots.get(path.snapshotId)) }),

    updateSnapshot: async ({ path, body }) => ({
      status: 200,
      body: view(await snapshots.patch(path.snapshotId, body)),
    }),

    deleteSnapshot: async ({ path }) => {
      await snapshots.delete(path.snapshotId);
      return { status: 204 };
    },

    forkSnapshot: async ({ path, body }) => ({
      status: 201,
      body: instances.view(await snapshots.fork(path.snapshotId, body)),
    }),
  };
}
