/**
 * Writes `operations.gen.ts`: the run-time table of every operation in `openapi.yaml` and the
 * per-operation request, response and handler types that make the server strict. A handler
 * can only return a status the spec declares as a success, with that status's body type; a
 * missing handler is a missing key of `Handlers`. Errors are not in the response unions: they
 * are thrown as domain errors and rendered by the server's one error handler.
 */

import { resolveRef as deref } from '../packages/api/src/ref.js';

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;
type Method = (typeof METHODS)[number];

type Json = Record<string, unknown>;

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  schema?: Json;
}

interface Operation {
  operationId: string;
  tag: string;
  method: Method;
  path: string;
  auth: boolean;
  params: Parameter[];
  requestBody: { required: boolean; contentTypes: string[] } | null;
  /** Declared 2xx responses: status, media types, response header names. */
  successes: { status: number; contentTypes: string[]; headers: string[] }[];
}

/** Every operation of the document, in document order. */
export function readOperations(doc: Json): Operation[] {
  const globalAuth = Array.isArray(doc.security) && doc.security.length > 0;
  const operations: Operation[] = [];
  for (const [path, rawItem] of Object.entries((doc.paths ?? {}) as Json)) {
    const item = deref<Json>(doc, rawItem);
    const shared = ((item.parameters ?? []) as unknown[]).map((p) => deref<Parameter>(doc, p));
    for (const method of METHODS) {
      const op = item[method] as Json | undefined;
      if (!op) continue;
      const where = `${method.toUpperCase()} ${path}`;
      if (typeof op.operationId !== 'string') throw new Error(`${where} has no operationId`);
      const tags = (op.tags ?? []) as string[];
      if (tags.length !== 1) throw new Error(`${where} must have exactly one tag`);

      const own = ((op.parameters ?? []) as unknown[]).map((p) => deref<Parameter>(doc, p));
      // An operation's own parameter replaces a path-level one with the same name and place.
      const params = [
        ...shared.filter((s) => !own.some((o) => o.name === s.name && o.in === s.in)),
        ...own,
      ];
      const security = op.security as unknown[] | undefined;
      const body = op.requestBody ? deref<Json>(doc, op.requestBody) : undefined;

      const successes = Object.entries((op.responses ?? {}) as Json)
        .filter(([status]) => /^2\d\d$/.test(status))
        .map(([status, raw]) => {
          const response = deref<Json>(doc, raw);
          return {
            status: Number(status),
            contentTypes: Object.keys((response.content ?? {}) as Json),
            headers: Object.keys((response.headers ?? {}) as Json),
          };
        });
      if (successes.length === 0) throw new Error(`${where} declares no 2xx response`);

      operations.push({
        operationId: op.operationId,
        tag: tags[0] as string,
        method,
        path,
        auth: security === undefined ? globalAuth : security.length > 0,
        params,
        requestBody: body
          ? {
              required: body.required === true,
              contentTypes: Object.keys((body.content ?? {}) as Json),
            }
          : null,
        successes,
      });
    }
  }
  return operations;
}

const pascal = (text: string) =>
  text
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((word) => word[0]?.toUpperCase() + word.slice(1))
    .join('');

const quote = (text: string) => `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

/** TypeScript type of one parameter group (path, query, header) of an operation. */
function paramsType(op: Operation, place: 'path' | 'query' | 'header'): string {
  if (!op.params.some((p) => p.in === place)) return 'Record<string, never>';
  return `NonNullable<operations[${quote(op.operationId)}]['parameters'][${quote(place)}]>`;
}

function requestType(op: Operation): string {
  let body = 'undefined';
  if (op.requestBody) {
    const json = op.requestBody.contentTypes.find((type) => type === 'application/json');
    if (!json)
      throw new Error(`${op.operationId}: only application/json request bodies are supported`);
    body = `NonNullable<operations[${quote(op.operationId)}]['requestBody']>['content']['application/json']`;
    if (!op.requestBody.required) body += ' | undefined';
  }
  return [
    '{',
    `    path: ${paramsType(op, 'path')};`,
    `    query: ${paramsType(op, 'query')};`,
    `    headers: ${paramsType(op, 'header')};`,
    `    body: ${body};`,
    '  }',
  ].join('\n');
}

function responseType(op: Operation): string {
  const members = op.successes.map(({ status, contentTypes, headers }) => {
    const fields = [`status: ${status}`];
    if (contentTypes.length === 0) {
      fields.push('body?: undefined');
    } else if (contentTypes.length === 1 && contentTypes[0] === 'application/json') {
      fields.push(
        `body: operations[${quote(op.operationId)}]['responses'][${status}]['content']['application/json']`,
      );
    } else {
      if (contentTypes.includes('application/json')) {
        throw new Error(`${op.operationId} ${status}: JSON must be the only media type`);
      }
      const types = contentTypes.map(quote).join(' | ');
      // One media type is implied; with several the handler must say which one it sends.
      fields.push(contentTypes.length === 1 ? `contentType?: ${types}` : `contentType: ${types}`);
      fields.push('body: RawBody');
    }
    if (headers.length > 0) {
      fields.push(`headers?: { ${headers.map((h) => `${quote(h)}?: string`).join('; ')} }`);
    } else {
      fields.push('headers?: Record<string, string>');
    }
    return `{ ${fields.join('; ')} }`;
  });
  return members.join('\n    | ');
}

function tableEntry(op: Operation): string {
  const responses = op.successes
    .map(({ status, contentTypes }) => `${status}: [${contentTypes.map(quote).join(', ')}]`)
    .join(', ');
  const body = op.requestBody
    ? `{ required: ${op.requestBody.required}, contentTypes: [${op.requestBody.contentTypes
        .map(quote)
        .join(', ')}] }`
    : 'null';
  return [
    '  {',
    `    operationId: ${quote(op.operationId)},`,
    `    tag: ${quote(op.tag)},`,
    `    method: ${quote(op.method)},`,
    `    path: ${quote(op.path)},`,
    `    honoPath: ${quote(op.path.replace(/\{([^}]+)\}/g, ':$1'))},`,
    `    auth: ${op.auth},`,
    `    successStatuses: [${op.successes.map((s) => s.status).join(', ')}],`,
    `    responses: { ${responses} },`,
    `    requestBody: ${body},`,
    '  },',
  ].join('\n');
}

/** The full text of `operations.gen.ts` (without the header line). */
export function emitOperations(doc: Json): string {
  const ops = readOperations(doc);
  const ids = new Set<string>();
  for (const op of ops) {
    if (ids.has(op.operationId)) throw new Error(`duplicate operationId ${op.operationId}`);
    ids.add(op.operationId);
  }
  const tags = [...new Set(ops.map((op) => op.tag))];

  const lines: string[] = [
    "import type { MaybePromise, OperationInfo, RawBody, RequestContext } from '../operation.js';",
    "import type { operations } from './schema.gen.js';",
    '',
    '/** Every operation of openapi.yaml, in document order. */',
    'export const operationTable = [',
    ...ops.map(tableEntry),
    '] as const satisfies readonly OperationInfo[];',
    '',
    '/** The operationId of any operation. */',
    "export type OperationId = (typeof operationTable)[number]['operationId'];",
    '',
    '/** The validated request each handler receives (without its context). */',
    'export interface Requests {',
    ...ops.map((op) => `  ${op.operationId}: ${requestType(op)};`),
    '}',
    '',
    '/** What each handler may return: its declared success responses, nothing else. */',
    'export interface Responses {',
    ...ops.map((op) => `  ${op.operationId}:\n    | ${responseType(op)};`),
    '}',
    '',
    '/** A handler for one operation. */',
    'export type Handler<K extends OperationId> = (',
    '  request: Requests[K] & RequestContext,',
    ') => MaybePromise<Responses[K]>;',
    '',
    '/** One handler per operation; the server will not compile with one missing or mistyped. */',
    'export type Handlers = { [K in OperationId]: Handler<K> };',
    '',
  ];
  for (const tag of tags) {
    const members = ops.filter((op) => op.tag === tag).map((op) => quote(op.operationId));
    lines.push(`/** The handlers of the \`${tag}\` tag. */`);
    lines.push(`export type ${pascal(tag)}Handlers = Pick<Handlers, ${members.join(' | ')}>;`);
    lines.push('');
  }
  return lines.join('\n');
}
