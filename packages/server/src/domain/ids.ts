/**
 * Resource ids: 24 characters of lowercase base 36, the first a letter, the shape of hypeman's
 * CUID2 ids (clients treat them as opaque strings; the letter keeps an id from looking like a
 * number). Drawn from the system's CSPRNG by nanoid: the scheduler makes two per run, and
 * cuid2's hashing cost about half a millisecond each.
 */
import { customAlphabet } from 'nanoid';

const first = customAlphabet('abcdefghijklmnopqrstuvwxyz', 1);
const rest = customAlphabet('0123456789abcdefghijklmnopqrstuvwxyz', 23);

/** A new random id, unique for all practical purposes (about 123 bits of randomness). */
export function newId(): string {
  return first() + rest();
}
