/**
 * The mock hypervisor: enabled in the server with `VMKEEP_MOCK_HYPERVISOR=1`, used by tests and
 * scale benchmarks. No guest runs; see {@link MockDriver}.
 */
export {
  type CallEntry,
  type CallKind,
  CallLog,
  type PauseWindow,
  type ProtocolViolation,
} from './call-log.js';
export { MockDriver, type MockDriverOptions } from './driver.js';
export {
  type Fault,
  FaultInjector,
  type FaultTarget,
  type InjectOptions,
  MockFaultError,
  type MockOp,
} from './faults.js';
export { decodeMemory, type MockGuestState } from './payload.js';
export { type MockClock, MockVm } from './vm.js';
