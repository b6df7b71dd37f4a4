/**
 * Time, injected. The scheduler and every record timestamp read the clock through this
 * interface so tests move time instead of waiting for it.
 */
export interface Clock {
  /** Wall-clock milliseconds since the epoch (UTC). */
  now(): number;
  /**
   * Resolves after `ms` of this clock's time, or when `signal` aborts (then it rejects with the
   * signal's reason). A fake clock resolves it when time is advanced past the deadline.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** RFC 3339 in UTC with a `Z`, as every API response writes times. */
export function toRfc3339(ms: number): string {
  return new Date(ms).toISOString();
}
