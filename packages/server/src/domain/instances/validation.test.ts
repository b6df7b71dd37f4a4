import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../errors.js';
import { formatSize, parseSize, validateName, validateTags } from './validation.js';

const MIB = 1024 ** 2;

describe('parseSize', () => {
  it.each([
    ['512MB', 512 * MIB],
    ['1GB', 1024 * MIB],
    ['2G', 2048 * MIB],
    ['1.5GB', 1536 * MIB],
    ['256 MiB', 256 * MIB],
    ['64m', 64 * MIB],
    ['1048576', MIB],
    ['1024K', MIB],
  ])('reads %s as %d bytes (binary units, as hypeman)', (text, bytes) => {
    expect(parseSize('size', text)).toBe(bytes);
  });

  it.each(['', 'MB', 'lots', '1 XB', '-1GB', '1GBB'])('refuses %j', (text) => {
    expect(() => parseSize('size', text)).toThrow(InvalidRequestError);
  });

  it('refuses a capital prefix with a lowercase b, which reads as bits', () => {
    expect(() => parseSize('size', '512Mb')).toThrow(
      'size "512Mb" reads as bits; write MB for bytes',
    );
  });
});

describe('formatSize', () => {
  it.each([
    [512 * MIB, '512.0 MB'],
    [1024 * MIB, '1024.0 MB'],
    [1536 * MIB, '1.5 GB'],
    [1000, '1000 B'],
  ])('writes %d bytes as %s, like hypeman', (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
  });
});

describe('validateName', () => {
  it.each(['web', 'a', 'web-1', 'x'.repeat(63)])('accepts %s', (name) => {
    expect(validateName('name', name)).toBe(name);
  });

  it.each(['', 'Web', '-web', 'web-', 'we_b', 'x'.repeat(64)])('refuses %j', (name) => {
    expect(() => validateName('name', name)).toThrow(InvalidRequestError);
  });
});

describe('validateTags', () => {
  it('accepts the tag charset and copies the map', () => {
    const tags = { 'team/owner': 'ops@example.com', 'k:v=+': '' };
    const out = validateTags('tags', tags);
    expect(out).toEqual(tags);
    expect(out).not.toBe(tags);
  });

  it.each([
    [{ 'hypeman.scheduled': 'true' }, /reserved prefix "hypeman\."/],
    [{ 'vmkeep.schedule_run': 'x' }, /reserved prefix "vmkeep\."/],
    [{ '': 'x' }, /key "" is not valid/],
    [{ 'a"b': 'x' }, /key "a"b" is not valid/],
    [{ k: 'v'.repeat(257) }, /value for "k" is not valid/],
    [{ k: 1 }, /value for "k" is not valid/],
    [Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])), /51 entries/],
  ])('refuses %o', (tags, message) => {
    expect(() => validateTags('tags', tags)).toThrow(message);
  });
});
