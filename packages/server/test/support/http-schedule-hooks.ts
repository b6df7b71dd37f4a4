/** The per-test lifecycle of the HTTP schedule world. */
import { afterEach } from 'vitest';
import { assertHttpScheduleInvariants } from './http-schedule-invariants.js';
import { HttpScheduleWorld, type HttpWorldOptions } from './http-schedule-world.js';

/**
 * Gives each test a fresh world (`const world = await newWorld()`) and, after it, checks the
 * global invariants I1–I7 and disposes of the world.
 */
export function useHttpScheduleWorld(
  defaults: HttpWorldOptions = {},
): (options?: HttpWorldOptions) => Promise<HttpScheduleWorld> {
  let current: HttpScheduleWorld | undefined;
  afterEach(async () => {
    const world = current;
    current = undefined;
    if (!world) return;
    try {
      await assertHttpScheduleInvariants(world);
    } finally {
      await world.dispose();
    }
  });
  return async (options = {}) => {
    current = await HttpScheduleWorld.create({ ...defaults, ...options });
    return current;
  };
}
