/**
 * Errors raised by the QMP client. Each carries the command it concerns, so a message read in a
 * log names what was asked of QEMU and what QEMU answered.
 */

/** QEMU answered a command with `{"error": {"class", "desc"}}`. */
export class QmpError extends Error {
  constructor(
    readonly command: string,
    /** QMP error class; almost always `GenericError`, so `desc` is what to read. */
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`QMP ${command} failed: ${desc} (${errorClass})`);
    this.name = 'QmpError';
  }
}

/** The connection closed (QEMU exited or the socket broke) before an answer arrived. */
export class QmpClosedError extends Error {
  constructor(what: string, options?: { cause?: unknown }) {
    super(`QMP connection closed while waiting for ${what}`, options);
    this.name = 'QmpClosedError';
  }
}

/** No answer within the call's deadline. The connection stays usable. */
export class QmpTimeoutError extends Error {
  constructor(
    what: string,
    readonly timeoutMs: number,
  ) {
    super(`QMP ${what}: no answer within ${timeoutMs} ms`);
    this.name = 'QmpTimeoutError';
  }
}

/** The peer spoke something that is not QMP (no greeting, or a line that is not JSON). */
export class QmpProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QmpProtocolError';
  }
}
