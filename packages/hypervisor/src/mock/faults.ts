/**
 * Fault injection for the mock driver: a test arms a fault for one operation, optionally only
 * for one VM and only a few times, and the mock applies it when that operation next runs.
 */

/** Operations a fault can be armed for. */
export type MockOp = 'start' | 'pause' | 'resume' | 'snapshot' | 'restore' | 'shutdown';

/**
 * - `fail`: the operation throws a {@link MockFaultError} with this message.
 * - `delayMs`: the operation waits this long on the mock's clock, then goes on.
 * - `hang`: the operation waits until its AbortSignal aborts (or {@link FaultInjector.releaseHangs}).
 *   For `shutdown` a hang means the guest ignores the power-off request, so the VMM is killed
 *   once the caller's timeout passes, as a real driver would.
 */
export type Fault = { fail: string } | { delayMs: number } | { hang: true };

/** What an armed fault is matched against. */
export interface FaultTarget {
  op: MockOp;
  /** The VM's run directory (it contains the instance id in vmkeep's layout). */
  runDir: string;
}

/** Which calls an armed fault applies to, and how often. */
export interface InjectOptions {
  /** How many matching calls the fault applies to; default 1. `Infinity` keeps it armed. */
  times?: number;
  /** Only calls whose run directory contains this string, or for which this returns true. */
  match?: string | ((target: FaultTarget) => boolean);
}

/** The error a `fail` fault throws. */
export class MockFaultError extends Error {
  constructor(
    readonly op: MockOp,
    message: string,
  ) {
    super(`mock ${op} failed: ${message}`);
    this.name = 'MockFaultError';
  }
}

interface Rule {
  op: MockOp;
  fault: Fault;
  remaining: number;
  match?: InjectOptions['match'];
}

/** The armed faults of one mock driver. */
export class FaultInjector {
  private rules: Rule[] = [];
  private hangRelease = new AbortController();

  /** Arms `fault` for the next matching `op` calls; returns a function that disarms it. */
  inject(op: MockOp, fault: Fault, opts: InjectOptions = {}): () => void {
    const rule: Rule = { op, fault, remaining: opts.times ?? 1, match: opts.match };
    this.rules.push(rule);
    return () => {
      this.rules = this.rules.filter((r) => r !== rule);
    };
  }

  /** Disarms every fault. */
  clear(): void {
    this.rules = [];
  }

  /** How many faults are still armed. */
  get armed(): number {
    return this.rules.length;
  }

  /** How many more calls armed faults will hit (of `op`, or of any op). */
  remaining(op?: MockOp): number {
    return this.rules
      .filter((r) => op === undefined || r.op === op)
      .reduce((sum, r) => sum + r.remaining, 0);
  }

  /** Ends every hang in progress (they fail); for test teardown. */
  releaseHangs(): void {
    this.hangRelease.abort(new Error('mock hang released'));
    this.hangRelease = new AbortController();
  }

  /** Consumes and returns the first fault armed for this call, if any. */
  take(target: FaultTarget): Fault | undefined {
    const rule = this.rules.find((r) => r.op === target.op && matches(r, target));
    if (!rule) return undefined;
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.rules = this.rules.filter((r) => r !== rule);
    return rule.fault;
  }

  /** The signal that ends hangs when {@link releaseHangs} is called. */
  get releaseSignal(): AbortSignal {
    return this.hangRelease.signal;
  }
}

function matches(rule: Rule, target: FaultTarget): boolean {
  if (rule.match === undefined) return true;
  if (typeof rule.match === 'string') return target.runDir.includes(rule.match);
  return rule.match(target);
}
