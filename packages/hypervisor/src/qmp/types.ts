/** Wire shapes of the QEMU Machine Protocol, as far as vmkeep reads them. */

export interface QmpGreeting {
  QMP: {
    version: { qemu: { major: number; minor: number; micro: number }; package: string };
    capabilities: string[];
  };
}

/** An asynchronous event, with the moment this client received it. */
export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  /** QEMU's own wall-clock timestamp of the event. */
  timestamp: { seconds: number; microseconds: number };
  /** `performance.now()` when the line arrived; compare with {@link QmpClient.mark}. */
  receivedAt: number;
}

/** A command as this client sent it; kept so tests can check them against the real schema. */
export interface QmpSentCommand {
  execute: string;
  arguments?: Record<string, unknown>;
}

/** Milliseconds since the epoch of an event's QEMU timestamp. */
export function eventTimeMs(event: QmpEvent): number {
  return event.timestamp.seconds * 1000 + event.timestamp.microseconds / 1000;
}
