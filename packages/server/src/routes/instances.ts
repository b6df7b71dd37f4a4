/**
 * Routes of the `instances` tag: create, list, read and delete instances, drive their
 * lifecycle, wait for a state and read the serial console. `{id}` is an id, a name or a unique
 * id prefix; the app has already answered 404 / 409 `ambiguous` for one that names nothing.
 */
import type { InstancesHandlers } from '@vmkeep/api';
import type { ServerDeps } from '../deps.js';
import { INSTANCE_STATES } from '../domain/instances/state.js';
import { durationToMs, parseDuration } from '../domain/schedules/duration.js';
import { RequestValidationError } from '../validation.js';
import { logsResponse } from './logs.js';
import { pageHeaders, pageRequest } from './paging.js';

export function instancesRoutes(deps: ServerDeps): InstancesHandlers {
  const instances = deps.services.instances;
  const view = instances.view.bind(instances);

  return {
    listInstances: ({ query }) => {
      // `Initializing` is a hypeman state vmkeep never reports: nothing can match it.
      const state = INSTANCE_STATES.find((s) => s === query.state);
      if (query.state !== undefined && !state) return { status: 200, body: [] };
      const page = instances.list({ state, tags: query.tags }, pageRequest(query));
      return { status: 200, body: page.items.map(view), headers: pageHeaders(page) };
    },

    createInstance: async ({ body }) => ({ status: 201, body: view(await instances.create(body)) }),

    getInstance: ({ path }) => ({ status: 200, body: view(instances.get(path.id)) }),

    deleteInstance: async ({ path }) => {
      await instances.delete(path.id);
      return { status: 204 };
    },

    // Lifecycle verbs wait their turn behind another operation on the instance, and run to
    // the end even if the client leaves: a half-done stop or standby helps nobody.
    startInstance: async ({ path }) => ({
      status: 200,
      body: view(await instances.start(path.id)),
    }),
    stopInstance: async ({ path }) => ({ status: 200, body: view(await instances.stop(path.id)) }),
    standbyInstance: async ({ path }) => ({
      status: 200,
      body: view(await instances.standby(path.id)),
    }),
    restoreInstance: async ({ path }) => ({
      status: 200,
      body: view(await instances.restore(path.id)),
    }),
    pauseInstance: async ({ path }) => ({
      status: 200,
      body: view(await instances.pause(path.id)),
    }),
    resumeInstance: async ({ path }) => ({
      status: 200,
      body: view(await instances.resume(path.id)),
    }),

    waitForInstanceState: async ({ path, query, signal }) => {
      const timeoutMs = waitTimeoutMs(query.timeout ?? '60s');
      const result = await instances
        .wait(path.id, { state: query.state, timeoutMs, signal })
        .catch((error: unknown) => {
          // A wait the client left rejects with the signal's reason, which need not be an
          // Error; the app's error handler (which ends it quietly) only receives Errors.
          throw signal.aborted ? new Error('the client stopped waiting', { cause: error }) : error;
        });
      return { status: 200, body: result };
    },

    getInstanceLogs: ({ path, query, signal }) =>
      logsResponse(instances, {
        ref: path.id,
        tail: query.tail ?? 100,
        follow: query.follow ?? false,
        signal,
      }),
  };
}

/** The `timeout` of a wait, a Go duration (`30s`, `2m`); the domain caps it at 5 minutes. */
function waitTimeoutMs(text: string): number {
  let ns: bigint | undefined;
  try {
    ns = parseDuration(text);
  } catch {
    // Reported below with the field's name.
  }
  if (ns === undefined || ns < 0n) {
    throw new RequestValidationError([
      {
        location: 'query',
        field: 'timeout',
        message: `"${text}" is not a non-negative Go duration such as 30s or 2m`,
      },
    ]);
  }
  return durationToMs(ns);
}
