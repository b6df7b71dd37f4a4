/**
 * The files the mock driver writes: a recognisable guest "memory" image inside a snapshot, and
 * a state file in the run directory that stands in for a live VMM process, so a new driver (a
 * restarted server) can re-attach to it.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { VmSpec } from '../types.js';

/** What the mock keeps of a guest: enough to prove a restore continued, not rebooted. */
export interface MockGuestState {
  /** Chosen at boot; survives snapshot and restore, changes on every cold boot. */
  bootId: string;
  /** A counter the guest advances (see `MockVm.tick`); a restore continues from it. */
  ticks: number;
}

const MEMORY_MAGIC = 'vmkeep-mock-memory 1';
/** Memory images are padded to this size so payload sizes are non-trivial but small. */
const MEMORY_BYTES = 4096;

/** The memory image inside a mock snapshot. */
export const MEMORY_FILE = 'memory.bin';
/** The file in a run directory that marks a live mock VMM. */
export const STATE_FILE = 'mock-vm.json';

/** Serialises guest state into a memory image. */
export function encodeMemory(guest: MockGuestState, spec: VmSpec): Buffer {
  const header = [
    MEMORY_MAGIC,
    `boot_id=${guest.bootId}`,
    `ticks=${guest.ticks}`,
    `memory_mib=${spec.memoryMiB}`,
    `vcpus=${spec.vcpus}`,
    '',
  ].join('\n');
  const image = Buffer.alloc(Math.max(MEMORY_BYTES, header.length), 'M');
  image.write(header, 0, 'utf8');
  return image;
}

/** Parses a memory image written by {@link encodeMemory}; throws on anything else. */
export function decodeMemory(image: Buffer): MockGuestState & { memoryMiB: number } {
  const lines = image.toString('utf8', 0, Math.min(image.length, 512)).split('\n');
  if (lines[0] !== MEMORY_MAGIC) throw new Error('not a mock memory image');
  const field = (name: string) => {
    const line = lines.find((l) => l.startsWith(`${name}=`));
    if (line === undefined) throw new Error(`mock memory image has no ${name}`);
    return line.slice(name.length + 1);
  };
  return {
    bootId: field('boot_id'),
    ticks: Number(field('ticks')),
    memoryMiB: Number(field('memory_mib')),
  };
}

/** What the run directory's state file holds while the mock "VMM" is alive. */
export interface MockStateFile extends MockGuestState {
  version: 1;
  state: 'running' | 'paused';
  spec: VmSpec;
}

/** Writes the run directory's state file. */
export async function writeStateFile(runDir: string, state: MockStateFile): Promise<void> {
  await writeFile(join(runDir, STATE_FILE), `${JSON.stringify(state)}\n`);
}

/** The state file's content, or undefined when no mock VMM is alive in `runDir`. */
export async function readStateFile(runDir: string): Promise<MockStateFile | undefined> {
  try {
    return JSON.parse(await readFile(join(runDir, STATE_FILE), 'utf8')) as MockStateFile;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Removes the state file: the mock VMM is gone. */
export async function removeStateFile(runDir: string): Promise<void> {
  await rm(join(runDir, STATE_FILE), { force: true });
}
