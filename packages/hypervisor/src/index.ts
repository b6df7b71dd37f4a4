/**
 * @vmkeep/hypervisor: one driver contract ({@link HypervisorDriver}) and its implementations —
 * QEMU over QMP, Cloud Hypervisor over its REST API, and a process-less mock for tests and scale
 * benchmarks — plus the disk helpers and the default guest image both drivers boot.
 */
export * from './accel-probe.js';
export * from './cloud-hypervisor/index.js';
export * from './disk.js';
export * from './guest-image.js';
export * from './logger.js';
export * from './mock/index.js';
export * from './qemu/index.js';
export * from './types.js';
