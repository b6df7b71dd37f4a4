/**
 * Checks QMP commands against the schema the real QEMU binary reports (`query-qmp-schema`).
 * Debian ships no QAPI schema files, so the binary itself is the reference: every command must
 * exist, and its arguments must validate against the command's argument type, recursively
 * (member names, required members, enum values, JSON types).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectUnixSocket } from '../../src/process/connect.js';
import { VmmProcess } from '../../src/process/vmm-process.js';
import { QmpClient } from '../../src/qmp/client.js';
import type { QmpSentCommand } from '../../src/qmp/types.js';

interface Entity {
  name: string;
  'meta-type': string;
  'arg-type'?: string;
  members?: { name: string; type: string; default?: unknown }[];
  tag?: string;
  variants?: { case: string; type: string }[];
  values?: string[];
  'element-type'?: string;
  'json-type'?: string;
}

export type QmpSchema = Map<string, Entity>;

/** Asks a throwaway `-machine none` QEMU (no guest) for its schema. */
export async function fetchQmpSchema(binary = 'qemu-system-x86_64'): Promise<QmpSchema> {
  const runDir = await mkdtemp(join(tmpdir(), 'vmkeep-schema-'));
  const socket = join(runDir, 'qmp.sock');
  const vmm = await VmmProcess.spawn({
    binary,
    runDir,
    identity: socket,
    args: [
      '-machine',
      'none',
      '-nodefaults',
      '-display',
      'none',
      '-qmp',
      `unix:${socket},server=on,wait=off`,
    ],
  });
  try {
    const qmp = await QmpClient.connect(
      await connectUnixSocket(socket, { timeoutMs: 10_000, gaveUp: () => vmm.hasExited }),
    );
    const entities = await qmp.execute<Entity[]>('query-qmp-schema');
    await qmp.close();
    return new Map(entities.map((e) => [e.name, e]));
  } finally {
    await vmm.kill({ graceMs: 500 });
    await rm(runDir, { recursive: true, force: true });
  }
}

/** Problems found in `commands`, one line each; empty when all of them are valid. */
export function schemaProblems(schema: QmpSchema, commands: readonly QmpSentCommand[]): string[] {
  const problems = new Set<string>();
  for (const command of commands) {
    const entity = schema.get(command.execute);
    if (entity?.['meta-type'] !== 'command') {
      problems.add(`${command.execute}: no such command`);
      continue;
    }
    const argType = entity['arg-type'];
    const args = command.arguments ?? {};
    if (!argType) {
      if (Object.keys(args).length > 0) problems.add(`${command.execute}: takes no arguments`);
      continue;
    }
    for (const p of validate(schema, args, argType, command.execute)) problems.add(p);
  }
  return [...problems];
}

function validate(schema: QmpSchema, value: unknown, typeName: string, path: string): string[] {
  const type = schema.get(typeName);
  if (!type) return [`${path}: unknown type ${typeName}`];
  switch (type['meta-type']) {
    case 'builtin':
      return jsonTypeOk(value, type['json-type'] ?? 'value')
        ? []
        : [`${path}: not ${type['json-type']}`];
    case 'enum':
      return type.values?.includes(String(value))
        ? []
        : [`${path}: ${String(value)} is not a valid value`];
    case 'array':
      if (!Array.isArray(value)) return [`${path}: not an array`];
      return value.flatMap((v, i) => validate(schema, v, type['element-type']!, `${path}[${i}]`));
    case 'alternate':
      return (type.members ?? []).some((m) => validate(schema, value, m.type, path).length === 0)
        ? []
        : [`${path}: matches no alternative`];
    case 'object':
      return validateObject(schema, value, type, path);
    default:
      return [`${path}: unexpected meta-type ${type['meta-type']}`];
  }
}

function validateObject(schema: QmpSchema, value: unknown, type: Entity, path: string): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [`${path}: not an object`];
  }
  const record = value as Record<string, unknown>;
  const members = [...(type.members ?? [])];
  if (type.tag && type.variants) {
    const variant = type.variants.find((v) => v.case === record[type.tag!]);
    if (variant) members.push(...(schema.get(variant.type)?.members ?? []));
  }
  const problems: string[] = [];
  for (const [key, member] of Object.entries(record)) {
    const declared = members.find((m) => m.name === key);
    if (!declared) problems.push(`${path}: unknown argument ${key}`);
    else problems.push(...validate(schema, member, declared.type, `${path}.${key}`));
  }
  for (const member of members) {
    if (!('default' in member) && !(member.name in record)) {
      problems.push(`${path}: missing required ${member.name}`);
    }
  }
  return problems;
}

function jsonTypeOk(value: unknown, jsonType: string): boolean {
  switch (jsonType) {
    case 'int':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'null':
      return value === null;
    default:
      return true;
  }
}
