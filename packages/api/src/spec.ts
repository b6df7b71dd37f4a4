/**
 * The OpenAPI document, read once at start from the repository's `openapi.yaml`: the server
 * serves it at `/spec.yaml` and `/spec.json` and compiles its request validators from it.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/** Location of `openapi.yaml`, the single source of truth for the API. */
export const specUrl = new URL('../../../openapi.yaml', import.meta.url);

/** The document's text, exactly as written. */
export const specYaml: string = readFileSync(specUrl, 'utf8');

/** The parsed document. Treat it as read-only: it is shared by every consumer. */
export const spec: OpenApiDocument = parse(specYaml) as OpenApiDocument;

/** The parts of an OpenAPI 3.1 document vmkeep reads at run time; the rest stays `unknown`. */
export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; [key: string]: unknown };
  paths: Record<string, Record<string, unknown>>;
  components: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}
