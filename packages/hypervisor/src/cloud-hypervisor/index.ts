/**
 * The Cloud Hypervisor driver, its errors, and the typed REST client it is built on.
 */
export {
  type ChVmConfig,
  type ChVmInfo,
  type ChVmState,
  CloudHypervisorApi,
  type CloudHypervisorApiOptions,
} from './api-client.js';
export { binaryEnvVar } from './binary.js';
export { CloudHypervisorDriver, type CloudHypervisorDriverOptions } from './driver.js';
export {
  CloudHypervisorApiError,
  CloudHypervisorProcessError,
  CloudHypervisorTimeoutError,
} from './errors.js';
