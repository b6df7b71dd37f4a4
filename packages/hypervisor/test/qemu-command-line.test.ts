import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { buildQemuArgs, type QemuLaunch } from '../src/qemu/args.js';
import { execReadUri, execWriteUri, shellQuote } from '../src/qemu/exec-uri.js';
import type { VmSpec } from '../src/types.js';

const run = promisify(execFile);

const launch: QemuLaunch = {
  machine: 'pc-q35-7.2',
  accel: 'tcg',
  cpu: 'qemu64',
  qmpSocket: '/run/i-1/qmp.sock',
};

const spec: VmSpec = {
  vcpus: 2,
  memoryMiB: 512,
  kernel: '/images/vmlinuz',
  initrd: '/images/initrd',
  cmdline: 'console=ttyS0 panic=-1',
  disks: [
    { id: 'disk0', path: '/data/i-1/disk,0.qcow2', format: 'qcow2' },
    { id: 'seed', path: '/data/i-1/seed.raw', format: 'raw', readonly: true },
  ],
  serialLogPath: '/data/i-1/serial.log',
};

describe('exec: migration URIs', () => {
  it.each([
    "/snap/it's here/memory.bin",
    '/snap/$(touch /tmp/pwned)/`id`/memory.bin',
    '/snap/a b\t"c"\\d;e|f&g>h/memory.bin',
  ])('quotes %s so the shell sees exactly that one word', async (path) => {
    const { stdout } = await run('/bin/sh', ['-c', `printf %s ${shellQuote(path)}`]);

    expect(stdout).toBe(path);
    expect(execWriteUri(path)).toBe(`exec:cat > ${shellQuote(path)}`);
    expect(execReadUri(path)).toBe(`exec:cat ${shellQuote(path)}`);
  });

  it('refuses relative paths, which QEMU would resolve against its own cwd', () => {
    expect(() => execWriteUri('memory.bin')).toThrow(/must be absolute/);
    expect(() => execReadUri('-n/memory.bin')).toThrow(/must be absolute/);
  });
});

describe('QEMU command line', () => {
  it('pins the versioned machine, CPU and accelerator and leaves out every default device', () => {
    const args = buildQemuArgs(spec, launch).join(' ');

    expect(args).toContain('-machine pc-q35-7.2 -accel tcg -cpu qemu64 -m 512M -smp 2');
    expect(args).toContain('-nodefaults -no-user-config -display none');
  });

  it('appends the serial console to the log instead of truncating it', () => {
    const args = buildQemuArgs(spec, launch);

    expect(args).toContain('file,id=serial0,path=/data/i-1/serial.log,append=on');
  });

  it('names block nodes after the disk ids, doubles commas in paths and honours read-only', () => {
    const args = buildQemuArgs(spec, launch);

    expect(args).toContain('driver=file,filename=/data/i-1/disk,,0.qcow2,node-name=disk0-file');
    expect(args).toContain('driver=qcow2,file=disk0-file,node-name=disk0');
    expect(args).toContain('virtio-blk-pci,drive=disk0,id=disk0-dev');
    expect(args).toContain(
      'driver=file,filename=/data/i-1/seed.raw,node-name=seed-file,read-only=on',
    );
    expect(args).toContain('driver=raw,file=seed-file,node-name=seed,read-only=on');
  });

  it('adds -S for a paused start and -incoming defer for a restore', () => {
    expect(buildQemuArgs(spec, launch)).not.toContain('-S');
    expect(buildQemuArgs(spec, launch, { paused: true })).toContain('-S');
    expect(buildQemuArgs(spec, launch, { incoming: true }).slice(-2)).toEqual([
      '-incoming',
      'defer',
    ]);
  });

  it('rejects disk ids QEMU cannot use as node names, and relative paths', () => {
    const bad = (disk: Partial<VmSpec['disks'][number]>) => () =>
      buildQemuArgs({ ...spec, disks: [{ ...spec.disks[0]!, ...disk }] }, launch);

    expect(bad({ id: '0disk' })).toThrow(/disk id "0disk"/);
    expect(bad({ id: 'disk 0' })).toThrow(/disk id/);
    expect(bad({ path: 'disk0.qcow2' })).toThrow(/must be absolute/);
  });
});
