/**
 * hypeman's published TypeScript SDK (`@onkernel/hypeman`), unchanged, against a real vmkeep
 * server on a socket (real services, the mock hypervisor): it creates an instance, then gets,
 * updates and deletes its snapshot schedule, and reads back what hypeman would return (the
 * interval in Go's canonical form, `max_count` always present, nulls for an unrun schedule).
 */
import Hypeman from '@onkernel/hypeman';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type LiveServer, startLiveServer } from './support/http-live-server.js';

let server: LiveServer;
let hypeman: Hypeman;

beforeEach(async () => {
  server = await startLiveServer({ env: { VMKEEP_ON_EXIT: 'shutdown' }, mock: true });
  hypeman = new Hypeman({ baseURL: server.baseUrl, apiKey: server.token, maxRetries: 0 });
});

afterEach(async () => {
  await server.close();
});

/** hypeman's instance create, as a hypeman user writes it (the mock is the only hypervisor). */
async function createInstance(name: string) {
  return hypeman.instances.create({ name, image: 'default', size: '64MB' });
}

describe("hypeman's SDK manages a vmkeep snapshot schedule", () => {
  it('creates, reads, updates and deletes a schedule with hypeman field semantics', async () => {
    const instance = await createInstance('web-1');
    await expect(hypeman.instances.snapshotSchedule.get(instance.id)).rejects.toBeInstanceOf(
      Hypeman.NotFoundError,
    );

    const before = Date.now();
    const created = await hypeman.instances.snapshotSchedule.update(instance.id, {
      interval: '24h',
      retention: { max_count: 0, max_age: '168h' },
      name_prefix: 'nightly',
      metadata: { env: 'staging' },
    });
    expect(created).toEqual({
      instance_id: instance.id,
      interval: '24h0m0s',
      name_prefix: 'nightly',
      metadata: { env: 'staging' },
      retention: { max_count: 0, max_age: '168h0m0s' },
      next_run_at: expect.stringMatching(/Z$/),
      last_run_at: null,
      last_snapshot_id: null,
      last_error: null,
      created_at: expect.stringMatching(/Z$/),
      updated_at: created.created_at,
    });
    // One interval from now, plus hypeman's per-instance jitter (at most 5 minutes).
    const firstRunInMs = Date.parse(created.next_run_at) - before;
    expect(firstRunInMs).toBeGreaterThanOrEqual(24 * 3_600_000);
    expect(firstRunInMs).toBeLessThan(24 * 3_600_000 + 5 * 60_000 + 10_000);

    // By name this time; only retention changes, so the next run stays where it was.
    const updated = await hypeman.instances.snapshotSchedule.update('web-1', {
      interval: '24h',
      retention: { max_count: 3 },
    });
    expect(updated).toMatchObject({
      instance_id: instance.id,
      interval: '24h0m0s',
      name_prefix: null,
      metadata: {},
      retention: { max_count: 3 },
      next_run_at: created.next_run_at,
      created_at: created.created_at,
    });
    expect(updated.retention).not.toHaveProperty('max_age');
    expect(await hypeman.instances.snapshotSchedule.get(instance.id)).toEqual(updated);

    // The SDK reads the empty 204 as null.
    expect(await hypeman.instances.snapshotSchedule.delete(instance.id)).toBeNull();
    await expect(hypeman.instances.snapshotSchedule.get(instance.id)).rejects.toMatchObject({
      status: 404,
      error: { code: 'not_found', message: 'snapshot schedule not found' },
    });
    await expect(hypeman.instances.snapshotSchedule.delete(instance.id)).rejects.toBeInstanceOf(
      Hypeman.NotFoundError,
    );
  });

  it('gets the 400 hypeman gives for an interval below the minimum, naming the field', async () => {
    const instance = await createInstance('web-2');
    const attempt = hypeman.instances.snapshotSchedule.update(instance.id, {
      interval: '30s',
      retention: { max_count: 1 },
    });
    await expect(attempt).rejects.toBeInstanceOf(Hypeman.BadRequestError);
    await expect(attempt).rejects.toMatchObject({
      status: 400,
      error: { code: 'invalid_request', message: expect.stringMatching(/interval 30s.*1m/) },
    });
  });

  it('reads and deletes the schedule of a deleted instance by its id', async () => {
    const instance = await createInstance('web-3');
    await hypeman.instances.snapshotSchedule.update(instance.id, {
      interval: '1h',
      retention: { max_age: '24h' },
    });
    await hypeman.instances.delete(instance.id);

    const kept = await hypeman.instances.snapshotSchedule.get(instance.id);
    expect(kept).toMatchObject({
      instance_id: instance.id,
      interval: '1h0m0s',
      retention: { max_count: 0, max_age: '24h0m0s' },
    });
    await hypeman.instances.snapshotSchedule.delete(instance.id);
    await expect(hypeman.instances.snapshotSchedule.get(instance.id)).rejects.toBeInstanceOf(
      Hypeman.NotFoundError,
    );
  });
});
