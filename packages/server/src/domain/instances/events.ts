/**
 * What the domain announces: instance state changes, instances and snapshots appearing and
 * disappearing. `GET /events` streams these; `wait` listens to them. Listeners run
 * synchronously and must not throw (a throwing listener is removed and its error dropped, so
 * one bad subscriber cannot break a lifecycle operation).
 */
import type { InstanceState } from './state.js';

/** One thing that happened, with the clock time it happened at. */
export type DomainEvent =
  | {
      type: 'instance.state';
      instanceId: string;
      name: string;
      state: InstanceState;
      previous: InstanceState;
      stateError: string | null;
      at: number;
    }
  | { type: 'instance.created'; instanceId: string; name: string; at: number }
  | { type: 'instance.deleted'; instanceId: string; name: string; at: number }
  | { type: 'snapshot.created'; snapshotId: string; sourceInstanceId: string; at: number }
  | { type: 'snapshot.deleted'; snapshotId: string; sourceInstanceId: string; at: number };

/** A subscriber to {@link DomainEvents}. */
export type DomainEventListener = (event: DomainEvent) => void;

/** The domain's event bus. */
export class DomainEvents {
  private readonly listeners = new Set<DomainEventListener>();

  /** Subscribes; returns the unsubscribe function. */
  on(listener: DomainEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: DomainEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        this.listeners.delete(listener);
      }
    }
  }
}
