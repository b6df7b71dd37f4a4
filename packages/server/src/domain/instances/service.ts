/**
 * The instances' public face: what routes and the scheduler call. Each method is one verb in
 * its own file; this class only binds them to the shared {@link DomainContext}.
 *
 * Methods return records (times in epoch ms, for the scheduler and retention); routes turn them
 * into API objects with {@link InstanceService.view}.
 */
import type { InstanceFilter, InstanceRecord } from '../../store/instances-repo.js';
import type { Page, PageRequest } from '../../store/list-query.js';
import type { DomainContext } from './context.js';
import { type CreateInstanceInput, createInstance } from './create.js';
import { deleteInstance } from './delete.js';
import { type FollowOptions, followLogs, tailLogs } from './logs.js';
import { pauseInstance } from './pause.js';
import { resolveInstance, type VerbOptions } from './resolve.js';
import { restoreInstance } from './restore.js';
import { resumeInstance } from './resume.js';
import { standbyInstance } from './standby.js';
import { startInstance } from './start.js';
import { type StopOptions, stopInstance } from './stop.js';
import { type Instance, toInstance } from './view.js';
import { type WaitInput, type WaitResult, waitForState } from './wait.js';

/** Instances: create, read, lifecycle verbs, wait and logs. */
export class InstanceService {
  constructor(private readonly ctx: DomainContext) {}

  /** Boots a new instance; resolves once it runs. 400/404 (image)/409 (name)/501. */
  create(input: CreateInstanceInput): Promise<InstanceRecord> {
    return createInstance(this.ctx, input);
  }

  /** By id, name or unique id prefix; 404 / 409 `ambiguous`. */
  get(ref: string): InstanceRecord {
    return resolveInstance(this.ctx, ref);
  }

  list(filter: InstanceFilter = {}, page: PageRequest = {}): Page<InstanceRecord> {
    return this.ctx.repos.instances.list(filter, page);
  }

  start(ref: string, opts?: VerbOptions): Promise<InstanceRecord> {
    return startInstance(this.ctx, ref, opts);
  }

  stop(ref: string, opts?: StopOptions): Promise<InstanceRecord> {
    return stopInstance(this.ctx, ref, opts);
  }

  pause(ref: string, opts?: VerbOptions): Promise<InstanceRecord> {
    return pauseInstance(this.ctx, ref, opts);
  }

  resume(ref: string, opts?: VerbOptions): Promise<InstanceRecord> {
    return resumeInstance(this.ctx, ref, opts);
  }

  standby(ref: string, opts?: VerbOptions): Promise<InstanceRecord> {
    return standbyInstance(this.ctx, ref, opts);
  }

  /** From Standby back to Running. */
  restore(ref: string, opts?: VerbOptions): Promise<InstanceRecord> {
    return restoreInstance(this.ctx, ref, opts);
  }

  delete(ref: string, opts?: VerbOptions): Promise<void> {
    return deleteInstance(this.ctx, ref, opts);
  }

  wait(ref: string, input: WaitInput): Promise<WaitResult> {
    return waitForState(this.ctx, ref, input);
  }

  tailLogs(ref: string, lines?: number): Promise<string[]> {
    return tailLogs(this.ctx, ref, lines);
  }

  followLogs(ref: string, opts?: FollowOptions): AsyncGenerator<string> {
    return followLogs(this.ctx, ref, opts);
  }

  /** The API object for a record. */
  view(record: InstanceRecord): Instance {
    return toInstance(record);
  }

  /**
   * Lets go of every VMM without stopping it (server shutdown): the guests keep running and
   * the next start re-attaches them. Returns how many it let go.
   */
  async detachAll(): Promise<number> {
    let detached = 0;
    for (const [id, vm] of this.ctx.runtime.entries()) {
      this.ctx.runtime.take(id);
      await vm.detach();
      detached++;
    }
    return detached;
  }
}
