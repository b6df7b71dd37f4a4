/**
 * `@vmkeep/api`: the types and operation table generated from `openapi.yaml`, and the
 * hand-written shapes they are built on. Regenerate with `npm run generate`.
 */

export * from './generated/operations.gen.js';
export type { components, operations, paths } from './generated/schema.gen.js';
export type {
  HttpMethod,
  MaybePromise,
  OperationInfo,
  RawBody,
  RequestContext,
} from './operation.js';

import type { components } from './generated/schema.gen.js';
/** The document's named schemas (`Schemas['Instance']`, `Schemas['SnapshotSchedule']` …). */
export type Schemas = components['schemas'];
export { resolveRef } from './ref.js';
