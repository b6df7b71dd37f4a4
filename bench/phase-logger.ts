/**
 * A driver logger that timestamps the messages marking the phases of a QEMU start or restore,
 * so the benchmarks can split "spawn → QMP ready → incoming done" without hooks in the driver.
 * It relies on the driver's log messages (`vmm spawned`, the `qmp send` of `qmp_capabilities`,
 * `snapshot restored`); if those change, the phase columns read "?" rather than lie.
 */
import type { Logger } from '../packages/hypervisor/src/logger.js';

export type Phase = 'spawned' | 'qmpReady' | 'restored';

/** Records, per phase, the first moment (performance.now()) its message was logged. */
export class PhaseLogger implements Logger {
  constructor(private readonly marks: Map<Phase, number> = new Map()) {}

  /** Milliseconds from `since` to the phase, or undefined when it was never logged. */
  after(phase: Phase, since: number): number | undefined {
    const at = this.marks.get(phase);
    return at === undefined ? undefined : at - since;
  }

  clear(): void {
    this.marks.clear();
  }

  debug(obj: object, msg?: string): void {
    // The first command QEMU accepts is `qmp_capabilities`, sent as soon as its greeting came.
    if (msg === 'qmp send' && (obj as { qmp?: string }).qmp === 'qmp_capabilities') {
      this.mark('qmpReady');
    }
  }

  info(_obj: object, msg?: string): void {
    if (msg === 'vmm spawned') this.mark('spawned');
    if (msg === 'snapshot restored') this.mark('restored');
  }

  warn(): void {}

  error(): void {}

  child(): Logger {
    return new PhaseLogger(this.marks);
  }

  private mark(phase: Phase): void {
    if (!this.marks.has(phase)) this.marks.set(phase, performance.now());
  }
}
