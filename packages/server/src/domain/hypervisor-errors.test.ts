import {
  CloudHypervisorApiError,
  CloudHypervisorProcessError,
  CloudHypervisorTimeoutError,
  MockFaultError,
  QemuError,
  ResumeAfterSnapshotError,
  type SnapshotManifest,
} from '@vmkeep/hypervisor';
import { describe, expect, it } from 'vitest';
import { InvalidStateError } from './errors.js';
import {
  classifyFailure,
  type FailureContext,
  type HypervisorAction,
  toHypervisorError,
} from './hypervisor-errors.js';

/** An error as the QMP client names its own (its classes are not exported by the package). */
function qmpError(name: string, message: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { name }, extra);
}

function spawnError(code: string): Error {
  return Object.assign(new Error(`spawn qemu-system-x86_64 ${code}`), {
    code,
    syscall: 'spawn qemu-system-x86_64',
  });
}

const context = (action: HypervisorAction): FailureContext => ({
  hypervisor: 'qemu',
  action,
  subject: 'instance web',
});

describe('classifyFailure', () => {
  it.each([
    [
      new QemuError('start_failed', 'QEMU did not start', 'qemu: invalid kernel header\n'),
      'boot',
      'qemu: invalid kernel header',
    ],
    [
      new QemuError(
        'restore_failed',
        'restoring failed',
        'a: Not a migration stream\nb: load failed',
      ),
      'restore',
      'a: Not a migration stream; b: load failed',
    ],
    [
      new QemuError('snapshot_failed', 'writing the memory snapshot failed'),
      'refused',
      'writing the memory snapshot failed',
    ],
    [
      new QemuError('invalid_state', 'the guest is still being restored'),
      'state',
      'the guest is still being restored',
    ],
    [
      new QemuError('unresponsive', 'QEMU (pid 7) does not answer on QMP'),
      'timeout',
      'QEMU (pid 7) does not answer on QMP',
    ],
    [qmpError('QmpError', 'QMP stop failed: x (GenericError)', { desc: 'x' }), 'refused', 'x'],
    [
      qmpError('QmpClosedError', 'QMP connection closed while waiting for stop'),
      'gone',
      'QMP connection closed while waiting for stop',
    ],
    [
      qmpError('QmpTimeoutError', 'QMP stop: no answer within 5000 ms'),
      'timeout',
      'QMP stop: no answer within 5000 ms',
    ],
    [qmpError('QmpProtocolError', 'no greeting'), 'refused', 'no greeting'],
    [
      new CloudHypervisorApiError('PUT /vm.pause', 500, ['Error pausing VM', 'busy']),
      'refused',
      'Error pausing VM: busy',
    ],
    [
      new CloudHypervisorTimeoutError('PUT /vm.snapshot', 30_000),
      'timeout',
      'cloud-hypervisor PUT /vm.snapshot got no answer within 30000 ms',
    ],
    [new CloudHypervisorProcessError('the VMM exited'), 'gone', 'the VMM exited'],
    [new MockFaultError('pause', 'busy'), 'refused', 'mock pause failed: busy'],
    [spawnError('ENOENT'), 'unavailable', 'spawn qemu-system-x86_64 ENOENT'],
    [
      new Error('process 7 is still alive 10 s after SIGKILL'),
      'refused',
      'process 7 is still alive 10 s after SIGKILL',
    ],
  ])('classifies %s', (err, kind, reason) => {
    expect(classifyFailure(err)).toEqual({ kind, reason });
  });

  it.each([
    ['a domain error', new InvalidStateError('wrong state')],
    [
      'a complete snapshot whose resume failed',
      new ResumeAfterSnapshotError({} as SnapshotManifest, { cause: new Error('x') }),
    ],
    ['a bug', new TypeError("cannot read properties of undefined (reading 'pid')")],
  ])('leaves %s alone', (_, err) => {
    expect(classifyFailure(err)).toBeUndefined();
  });
});

describe('toHypervisorError', () => {
  it.each([
    ['boot', 'restore', 'invalid_request', 'QEMU could not start the guest of instance web: r'],
    ['boot', 'timeout', 'invalid_request', 'QEMU could not start the guest of instance web: r'],
    ['restore', 'restore', 'conflict', 'QEMU could not restore instance web: r'],
    ['restore', 'boot', 'conflict', 'QEMU could not restore instance web: r'],
    ['pause', 'gone', 'invalid_state', 'the QEMU process went away while pausing instance web: r'],
    ['resume', 'state', 'invalid_state', 'QEMU cannot go on resuming instance web: r'],
    [
      'snapshot',
      'timeout',
      'conflict',
      'QEMU did not answer in time while snapshotting instance web: r',
    ],
    ['standby', 'refused', 'conflict', 'QEMU failed saving the state of instance web: r'],
    ['boot', 'unavailable', 'not_supported', 'QEMU cannot be run on this host (r)'],
  ] as const)('maps %s failing with %s to %s', (action, kind, code, start) => {
    const cause = new Error('driver');
    const mapped = toHypervisorError(cause, { kind, reason: 'r' }, context(action));
    expect(mapped.code).toBe(code);
    expect(mapped.message.startsWith(`${start}; `)).toBe(true);
    expect(mapped.cause).toBe(cause);
    expect(mapped.details).toEqual({ hypervisor: 'qemu', action, failure: kind });
  });

  it('ends with the caller’s advice when it gives one', () => {
    const mapped = toHypervisorError(
      new Error('x'),
      { kind: 'refused', reason: 'busy' },
      { ...context('pause'), advice: 'web keeps running; retry the pause' },
    );
    expect(mapped.message).toBe(
      'QEMU failed pausing instance web: busy; web keeps running; retry the pause',
    );
  });
});
