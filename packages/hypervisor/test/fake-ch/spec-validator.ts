/**
 * Checks requests (and the fake's own responses) against the vendored Cloud Hypervisor OpenAPI
 * spec, stricter than the spec itself: every object schema that declares properties is closed,
 * so a misspelled or invented field fails instead of being ignored by CH.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';

const specPath = fileURLToPath(new URL('../../spec/cloud-hypervisor.yaml', import.meta.url));
const apiPrefix = '/api/v1';

/** OpenAPI's numeric formats; JSON Schema has none of them, and their ranges are not checked. */
const numericFormats = ['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64'];

type JsonObject = Record<string, unknown>;

interface Operation {
  /** Compiled request body schema; undefined when the operation takes no body. */
  body?: ValidateFunction;
  bodyRequired: boolean;
  /** Compiled schema of the 200 response, when it has a JSON one. */
  ok?: ValidateFunction;
}

export type RequestCheck =
  | { ok: true; body: unknown }
  | { ok: false; status: 400 | 404; problems: string[] };

export class ChSpecValidator {
  readonly #operations = new Map<string, Map<string, Operation>>();

  constructor() {
    const spec = closeObjects(parse(readFileSync(specPath, 'utf8'))) as JsonObject;
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats.default(ajv);
    for (const name of numericFormats)
      ajv.addFormat(name, { type: 'number', validate: () => true });
    ajv.addSchema(spec, 'ch');

    const paths = spec.paths as Record<string, Record<string, JsonObject>>;
    for (const [path, methods] of Object.entries(paths)) {
      const byMethod = new Map<string, Operation>();
      for (const [method, op] of Object.entries(methods)) {
        const pointer = `ch#/paths/${escapePointer(path)}/${method}`;
        const requestBody = op.requestBody as JsonObject | undefined;
        const responses = op.responses as Record<string, JsonObject>;
        byMethod.set(method.toUpperCase(), {
          body: requestBody
            ? ajv.compile({ $ref: `${pointer}/requestBody/content/application~1json/schema` })
            : undefined,
          bodyRequired: requestBody?.required === true,
          ok: jsonSchemaOf(responses['200'])
            ? ajv.compile({ $ref: `${pointer}/responses/200/content/application~1json/schema` })
            : undefined,
        });
      }
      this.#operations.set(path, byMethod);
    }
  }

  /**
   * Method, path and body of one request. Answers as CH would: 404 for a path it does not
   * serve, 400 for a wrong method or a body that does not parse or fit the schema.
   */
  checkRequest(method: string, url: string, rawBody: string): RequestCheck {
    const path = url.startsWith(apiPrefix) ? url.slice(apiPrefix.length) : undefined;
    const byMethod = path === undefined ? undefined : this.#operations.get(path);
    if (!byMethod) return { ok: false, status: 404, problems: [`no such path: ${url}`] };
    const op = byMethod.get(method);
    if (!op) return { ok: false, status: 400, problems: [`${method} is not allowed on ${path}`] };

    if (!op.body) {
      if (rawBody.length > 0)
        return { ok: false, status: 400, problems: [`${path} takes no body`] };
      return { ok: true, body: undefined };
    }
    if (rawBody.length === 0) {
      return op.bodyRequired
        ? { ok: false, status: 400, problems: [`${path} requires a JSON body`] }
        : { ok: true, body: undefined };
    }
    let body: unknown;
    try {
      body = JSON.parse(rawBody);
    } catch (err) {
      return { ok: false, status: 400, problems: [`body is not JSON: ${(err as Error).message}`] };
    }
    if (!op.body(body)) return { ok: false, status: 400, problems: describe(op.body) };
    return { ok: true, body };
  }

  /** Problems with a 200 body the fake is about to send, so the fake cannot drift from CH. */
  checkOkResponse(method: string, path: string, body: unknown): string[] {
    const validate = this.#operations.get(path)?.get(method)?.ok;
    if (!validate || validate(body)) return [];
    return describe(validate);
  }
}

function describe(validate: ValidateFunction): string[] {
  return (validate.errors ?? []).map((e) => {
    const where = e.instancePath || '(body)';
    const extra =
      e.keyword === 'additionalProperties'
        ? ` (${(e.params as { additionalProperty: string }).additionalProperty})`
        : '';
    return `${where} ${e.message ?? e.keyword}${extra}`;
  });
}

function jsonSchemaOf(response: JsonObject | undefined): unknown {
  const content = response?.content as Record<string, JsonObject> | undefined;
  return content?.['application/json']?.schema;
}

function escapePointer(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1');
}

/**
 * Sets `additionalProperties: false` on every schema that lists `properties` and says nothing
 * about extra ones. An object schema without `properties` is the spec's way of saying "any
 * object" (e.g. `DeviceNode.resources` items, a Rust enum) and stays open.
 */
function closeObjects(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(closeObjects);
  if (node === null || typeof node !== 'object') return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) out[key] = closeObjects(value);
  if (isPlainObject(out.properties) && out.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  return out;
}

function isPlainObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
