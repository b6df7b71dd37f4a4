/** Routes of the `instances` tag. */
import type { InstancesHandlers } from '@vmkeep/api';
import type { ServerDeps } from '../deps.js';
import { notImplemented } from './not-implemented.js';

export function instancesRoutes(_deps: ServerDeps): InstancesHandlers {
  return {
    listInstances: notImplemented('listInstances'),
    createInstance: notImplemented('createInstance'),
    getInstance: notImplemented('getInstance'),
    deleteInstance: notImplemented('deleteInstance'),
    startInstance: notImplemented('startInstance'),
    stopInstance: notImplemented('stopInstance'),
    standbyInstance: notImplemented('standbyInstance'),
    restoreInstance: notImplemented('restoreInstance'),
    pauseInstance: notImplemented('pauseInstance'),
    resumeInstance: notImplemented('resumeInstance'),
    waitForInstanceState: notImplemented('waitForInstanceState'),
    getInstanceLogs: notImplemented('getInstanceLogs'),
  };
}
