/** A QMP client over a unix socket: one long-lived connection per QEMU process. */
export {
  type QmpCallOptions,
  QmpClient,
  type QmpConnectOptions,
  type QmpWaitOptions,
} from './client.js';
export { QmpClosedError, QmpError, QmpProtocolError, QmpTimeoutError } from './errors.js';
export { eventTimeMs, type QmpEvent, type QmpGreeting, type QmpSentCommand } from './types.js';
