/** The QEMU driver's public face. */
export {
  DEFAULT_QEMU_BINARY,
  defaultMachineType,
  type QemuVersion,
  readQemuVersion,
} from './binary.js';
export { QEMU_FEATURES, QemuDriver, type QemuDriverOptions } from './driver.js';
export { QemuError, type QemuFailure } from './errors.js';
export {
  type CaptureMethod,
  MANIFEST_FILE,
  MEMORY_FILE,
  type QemuSnapshotDetails,
} from './manifest.js';
export { QemuVm } from './vm.js';
