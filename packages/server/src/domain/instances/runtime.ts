/**
 * The live side of instances: the `Vm` handle of every guest whose VMM this server controls,
 * and the instances waiting for a resume to be retried. The database says what state an
 * instance is in; this says which process to talk to.
 */
import type { Vm } from '@vmkeep/hypervisor';

/** Live VM handles by instance id. */
export class VmRuntime {
  private readonly vms = new Map<string, Vm>();
  /** Instances left paused by a failed resume after a snapshot; a retry loop owns each. */
  readonly pendingResume = new Set<string>();

  get(instanceId: string): Vm | undefined {
    return this.vms.get(instanceId);
  }

  set(instanceId: string, vm: Vm): void {
    this.vms.set(instanceId, vm);
  }

  /**
   * Forgets and returns the instance's VM. An operation that is about to end the VMM on
   * purpose takes it first, so the exit watcher knows the exit was intended.
   */
  take(instanceId: string): Vm | undefined {
    const vm = this.vms.get(instanceId);
    this.vms.delete(instanceId);
    return vm;
  }

  entries(): [string, Vm][] {
    return [...this.vms.entries()];
  }
}
