/**
 * `@vmkeep/sdk`: a typed client for the vmkeep API, generated from its `openapi.yaml`.
 */
import type { components } from './generated/schema.gen.js';

export { type ClientOptions, createClient, type VmkeepClient } from './client.js';
export { type ErrorCode, toVmkeepError, VmkeepError } from './errors.js';
export type { components, operations, paths } from './generated/schema.gen.js';

type Schemas = components['schemas'];
export type Capabilities = Schemas['Capabilities'];
export type Image = Schemas['Image'];
export type Instance = Schemas['Instance'];
export type InstanceState = Schemas['InstanceState'];
export type Snapshot = Schemas['Snapshot'];
export type SnapshotKind = Schemas['SnapshotKind'];
export type SnapshotSchedule = Schemas['SnapshotSchedule'];
export type SetSnapshotScheduleRequest = Schemas['SetSnapshotScheduleRequest'];
export type ApiError = Schemas['Error'];
