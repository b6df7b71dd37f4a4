/**
 * Request validation against `openapi.yaml`, before any handler runs: path, query and header
 * parameters and the JSON body of each operation are checked by ajv validators compiled once
 * from the spec. A violation is a 400 `invalid_request` whose `details.errors` lists every
 * offending field as `{location, field, message}`.
 *
 * Parameters arrive as strings and are coerced to their schema types (`tail=5` → 5); bodies
 * are not coerced, so `{"interval": 60}` is rejected rather than read as `"60"`. Defaults
 * declared in the spec are filled in. Query parameters the spec does not declare are ignored.
 */
import { type OperationInfo, resolveRef } from '@vmkeep/api';
import type { OpenApiDocument } from '@vmkeep/api/spec';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { Context } from 'hono';
import { DomainError } from './domain/errors.js';

export type FieldLocation = 'path' | 'query' | 'header' | 'body';

export interface FieldError {
  location: FieldLocation;
  /** Dotted path inside the location (`retention.max_count`); the parameter name for params. */
  field: string;
  message: string;
}

/** 400 `invalid_request` naming each field that does not match the spec. */
export class RequestValidationError extends DomainError {
  constructor(readonly errors: FieldError[]) {
    const [first] = errors;
    const where = first ? [first.location, first.field].filter(Boolean).join('.') : 'request';
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
    super('invalid_request', `invalid request: ${where} ${first?.message ?? 'is invalid'}${more}`, {
      errors,
    });
  }
}

/** What a validated request carries to its handler. */
export interface ValidatedRequest {
  path: Record<string, unknown>;
  query: Record<string, unknown>;
  headers: Record<string, unknown>;
  body: unknown;
}

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  style?: string;
  schema?: Record<string, unknown>;
}

interface CompiledOperation {
  params: Parameter[];
  path: ValidateFunction;
  query: ValidateFunction;
  headers: ValidateFunction;
  body: ValidateFunction | undefined;
}

const SPEC_ID = 'vmkeep:openapi';

/**
 * RFC 3339 `date-time`, stricter than ajv-formats 3.0.1, which also accepts a space for `T`
 * and an offset without minutes (`+09`): a value must carry `T`, seconds and a full offset.
 */
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|[+-](\d{2}):(\d{2}))$/i;

export function isRfc3339DateTime(value: string): boolean {
  const m = DATE_TIME.exec(value);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as number[];
  const [offsetHour, offsetMinute] = [Number(m[7] ?? 0), Number(m[8] ?? 0)];
  const daysInMonth = new Date(Date.UTC(year!, month!, 0)).getUTCDate();
  return (
    month! >= 1 &&
    month! <= 12 &&
    day! >= 1 &&
    day! <= daysInMonth &&
    hour! <= 23 &&
    minute! <= 59 &&
    second! <= 60 && // 60: a leap second
    offsetHour <= 23 &&
    offsetMinute <= 59
  );
}

/** Rewrites the spec's `#/components/schemas/X` references to the copy registered in ajv. */
function rebase(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(rebase);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    out[key] =
      key === '$ref' && typeof value === 'string' && value.startsWith('#/components/schemas/')
        ? `${SPEC_ID}#/$defs/${value.slice('#/components/schemas/'.length)}`
        : rebase(value);
  }
  return out;
}

/**
 * An ajv instance configured as the server validates: JSON Schema 2020-12 (OpenAPI 3.1),
 * formats from ajv-formats (pinned) with the strict `date-time` above, and the spec's named
 * schemas registered so `$ref`s resolve. Exported for tests that guard the format behaviour.
 */
export function createSpecAjv(schemas: Record<string, unknown>, coerceTypes = false): Ajv2020 {
  const ajv = new Ajv2020({
    allErrors: true,
    coerceTypes,
    useDefaults: true,
    strict: true,
    allowUnionTypes: true,
  });
  // ajv-formats is CommonJS; under NodeNext its plugin is the `default` property.
  addFormats.default(ajv);
  ajv.addFormat('date-time', { type: 'string', validate: isRfc3339DateTime });
  // OpenAPI's annotation keywords: documentation, no effect on validation.
  ajv.addVocabulary(['example', 'xml', 'externalDocs', 'discriminator']);
  ajv.addSchema({ $id: SPEC_ID, $defs: rebase(schemas) });
  return ajv;
}

function objectSchema(params: Parameter[]): Record<string, unknown> {
  return {
    type: 'object',
    properties: Object.fromEntries(params.map((p) => [p.name, rebase(p.schema ?? {})])),
    required: params.filter((p) => p.required).map((p) => p.name),
  };
}

/** Field errors from ajv's, with the field path spelled the way a client wrote it. */
function fieldErrors(location: FieldLocation, errors: ErrorObject[]): FieldError[] {
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const error of errors) {
    // propertyNames reports each bad key twice (the key, then "property name is invalid").
    if (error.keyword === 'propertyNames') continue;
    const parts = error.instancePath
      .split('/')
      .slice(1)
      .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'));
    let message = error.message ?? 'is invalid';
    if (error.keyword === 'required') {
      parts.push(String(error.params.missingProperty));
      message = 'is required';
    } else if (error.keyword === 'additionalProperties') {
      parts.push(String(error.params.additionalProperty));
      message = 'is not a known field';
    } else if (error.keyword === 'enum') {
      message = `must be one of: ${(error.params.allowedValues as unknown[]).join(', ')}`;
    }
    if (error.propertyName !== undefined) {
      parts.push(error.propertyName);
      message = `key ${message}`;
    }
    const entry = { location, field: parts.join('.'), message };
    const key = `${entry.field}\0${entry.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(entry);
    }
  }
  return out;
}

/** Reads declared query parameters: `form` (repeated for arrays) and `deepObject` (`a[k]=v`). */
function readQuery(url: URL, params: Parameter[], errors: FieldError[]): Record<string, unknown> {
  const query: Record<string, unknown> = {};
  for (const param of params) {
    if (param.style === 'deepObject') {
      const prefix = `${param.name}[`;
      const entries = [...url.searchParams].filter(
        ([k]) => k.startsWith(prefix) && k.endsWith(']'),
      );
      if (entries.length > 0) {
        query[param.name] = Object.fromEntries(
          entries.map(([k, v]) => [k.slice(prefix.length, -1), v]),
        );
      }
      continue;
    }
    const values = url.searchParams.getAll(param.name);
    if (values.length === 0) continue;
    if (param.schema?.type === 'array') {
      query[param.name] = values;
    } else if (values.length > 1) {
      errors.push({ location: 'query', field: param.name, message: 'must be given once' });
    } else {
      query[param.name] = values[0];
    }
  }
  return query;
}

async function readBody(
  c: Context,
  op: OperationInfo,
  validate: ValidateFunction | undefined,
): Promise<unknown> {
  if (!op.requestBody || !validate) return undefined;
  const text = await c.req.text();
  if (text.trim() === '') {
    if (!op.requestBody.required) return undefined;
    throw new RequestValidationError([
      { location: 'body', field: '', message: 'is required (send a JSON object)' },
    ]);
  }
  const mediaType = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/json') {
    throw new RequestValidationError([
      {
        location: 'header',
        field: 'Content-Type',
        message: `must be application/json, not ${mediaType || 'missing'}`,
      },
    ]);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new RequestValidationError([
      { location: 'body', field: '', message: `is not valid JSON (${(error as Error).message})` },
    ]);
  }
  if (!validate(body)) throw new RequestValidationError(fieldErrors('body', validate.errors ?? []));
  return body;
}

/** Compiles every operation's validators once; `validate` then checks one request. */
export function createRequestValidator(
  spec: OpenApiDocument,
  operations: readonly OperationInfo[],
) {
  const schemas = (spec.components?.schemas ?? {}) as Record<string, unknown>;
  const paramsAjv = createSpecAjv(schemas, true);
  const bodyAjv = createSpecAjv(schemas, false);

  const compiled = new Map<string, CompiledOperation>();
  for (const op of operations) {
    const item = resolveRef<Record<string, unknown>>(spec, spec.paths[op.path]);
    const raw = item[op.method] as Record<string, unknown>;
    const own = ((raw.parameters ?? []) as unknown[]).map((p) => resolveRef<Parameter>(spec, p));
    const shared = ((item.parameters ?? []) as unknown[]).map((p) =>
      resolveRef<Parameter>(spec, p),
    );
    const params = [
      ...shared.filter((s) => !own.some((o) => o.name === s.name && o.in === s.in)),
      ...own,
    ];
    const requestBody = raw.requestBody
      ? resolveRef<{ content: Record<string, { schema: unknown }> }>(spec, raw.requestBody)
      : undefined;
    const bodySchema = requestBody?.content['application/json']?.schema;
    compiled.set(op.operationId, {
      params,
      path: paramsAjv.compile(objectSchema(params.filter((p) => p.in === 'path'))),
      query: paramsAjv.compile(objectSchema(params.filter((p) => p.in === 'query'))),
      headers: paramsAjv.compile(objectSchema(params.filter((p) => p.in === 'header'))),
      body: bodySchema === undefined ? undefined : bodyAjv.compile(rebase(bodySchema) as object),
    });
  }

  return {
    /**
     * Validates the request `c` against operation `op`, in this order: the path parameters;
     * then `afterPath`, the caller's lookup of the resources they name, so that a missing
     * resource is reported before anything else about the request (BB-33); then the query,
     * headers and body. Throws {@link RequestValidationError}.
     */
    async validate(
      op: OperationInfo,
      c: Context,
      afterPath?: (path: Record<string, unknown>) => void | Promise<void>,
    ): Promise<ValidatedRequest> {
      const entry = compiled.get(op.operationId);
      if (!entry) throw new Error(`no validator compiled for ${op.operationId}`);

      const path: Record<string, unknown> = { ...c.req.param() };
      if (!entry.path(path)) {
        throw new RequestValidationError(fieldErrors('path', entry.path.errors ?? []));
      }
      await afterPath?.(path);

      const errors: FieldError[] = [];
      const queryParams = entry.params.filter((p) => p.in === 'query');
      const query = readQuery(new URL(c.req.url), queryParams, errors);
      if (!entry.query(query)) errors.push(...fieldErrors('query', entry.query.errors ?? []));

      const headers: Record<string, unknown> = {};
      for (const param of entry.params.filter((p) => p.in === 'header')) {
        const value = c.req.header(param.name);
        if (value !== undefined) headers[param.name] = value;
      }
      if (!entry.headers(headers))
        errors.push(...fieldErrors('header', entry.headers.errors ?? []));

      if (errors.length > 0) throw new RequestValidationError(errors);
      return { path, query, headers, body: await readBody(c, op, entry.body) };
    },
  };
}

export type RequestValidator = ReturnType<typeof createRequestValidator>;
