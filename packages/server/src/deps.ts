/**
 * Everything the HTTP layer needs from outside, made once in `main.ts` (or by a test) and
 * passed to `createApp`. Domain services join this interface as they land; a route factory
 * takes the whole object and uses what it needs.
 */
import type { Schemas } from '@vmkeep/api';
import type { Logger } from 'pino';
import type { ServerConfig } from './config.js';
import type { Clock } from './domain/clock.js';
import type { Services } from './services.js';

export interface ServerDeps {
  config: ServerConfig;
  /** The root logger; subsystems take `logger.child({ subsystem })`. */
  logger: Logger;
  clock: Clock;
  /** HS256 key that bearer tokens are verified with. */
  jwtSecret: Uint8Array;
  /** Each hypervisor's probe result for `GET /capabilities` (drivers cache their probes). */
  capabilities: () => Promise<Schemas['HypervisorCapability'][]>;
  /** The domain: images, instances, snapshots, schedules and the scheduler. */
  services: Services;
}
