import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from './db.js';
import { ImagesRepo } from './images-repo.js';
import { InstancesRepo, type NewInstance } from './instances-repo.js';

let db: Db;
let repo: InstancesRepo;

function instance(id: string, over: Partial<NewInstance> = {}): NewInstance {
  return {
    id,
    name: id,
    image: 'default',
    hypervisor: 'mock',
    vcpus: 1,
    memoryBytes: 256 * 1024 ** 2,
    env: { A: 'b' },
    tags: {},
    state: 'Running',
    stateError: null,
    pid: 0,
    spec: {
      vcpus: 1,
      memoryMiB: 256,
      kernel: '/k',
      cmdline: 'console=ttyS0',
      disks: [{ id: 'disk0', path: '/d', format: 'qcow2' }],
      serialLogPath: '/s',
    },
    createdAt: 1,
    startedAt: 2,
    stoppedAt: null,
    ...over,
  };
}

beforeEach(() => {
  db = openDatabase(':memory:');
  new ImagesRepo(db).insert({
    name: 'default',
    kernelPath: '/k',
    initrdPath: null,
    diskPath: null,
    cmdline: '',
    sizeBytes: 1,
    createdAt: 0,
  });
  repo = new InstancesRepo(db);
});

afterEach(() => db.close());

describe('InstancesRepo', () => {
  it('round-trips a record with its spec, env and tags', () => {
    const input = instance('abc');
    expect(repo.insert(input)).toEqual({ ...input, seq: 1 });
    expect(repo.getByName('abc')?.id).toBe('abc');
  });

  it('refuses an instance of an image that does not exist', () => {
    expect(() => repo.insert(instance('x', { image: 'nope' }))).toThrow(/FOREIGN KEY/);
  });

  it('finds ids by prefix, case-sensitively, treating wildcards literally', () => {
    repo.insert(instance('abc1'));
    repo.insert(instance('abc2'));
    repo.insert(instance('a_c3'));
    repo.insert(instance('a*[?5'));
    expect(repo.findByIdPrefix('abc').map((i) => i.id)).toEqual(['abc1', 'abc2']);
    expect(repo.findByIdPrefix('ABC')).toEqual([]);
    expect(repo.findByIdPrefix('a_').map((i) => i.id)).toEqual(['a_c3']);
    expect(repo.findByIdPrefix('a*[?').map((i) => i.id)).toEqual(['a*[?5']);
    for (const wildcard of ['%', '*', '?', '[a]', '_']) {
      expect(repo.findByIdPrefix(wildcard)).toEqual([]);
    }
  });

  it('patches the given fields and serialises JSON columns', () => {
    repo.insert(instance('abc'));
    const after = repo.update('abc', { state: 'Stopped', pid: null, tags: { t: '1' } });
    expect(after).toMatchObject({ state: 'Stopped', pid: null, tags: { t: '1' }, env: { A: 'b' } });
    expect(repo.countByImage('default')).toBe(1);
  });
});
