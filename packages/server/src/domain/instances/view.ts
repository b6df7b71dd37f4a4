/** The Instance resource as the API returns it (hypeman's field names and formats). */
import type { HypervisorKind } from '@vmkeep/hypervisor';
import type { InstanceRecord } from '../../store/instances-repo.js';
import { toRfc3339 } from '../clock.js';
import type { InstanceState } from './state.js';
import { formatSize } from './validation.js';

/** An instance as the API returns it. */
export interface Instance {
  id: string;
  name: string;
  image: string;
  state: InstanceState;
  state_error: string | null;
  /** Memory, human-readable as hypeman writes it ("512.0 MB"). */
  size: string;
  vcpus: number;
  hypervisor: HypervisorKind;
  env: Record<string, string>;
  tags: Record<string, string>;
  created_at: string;
  started_at: string | null;
  stopped_at: string | null;
  /** Whether standby memory state exists (hypeman: the instance is in Standby). */
  has_snapshot: boolean;
}

/** The API object for an instance record. */
export function toInstance(record: InstanceRecord): Instance {
  return {
    id: record.id,
    name: record.name,
    image: record.image,
    state: record.state,
    state_error: record.stateError,
    size: formatSize(record.memoryBytes),
    vcpus: record.vcpus,
    hypervisor: record.hypervisor,
    env: { ...record.env },
    tags: { ...record.tags },
    created_at: toRfc3339(record.createdAt),
    started_at: record.startedAt === null ? null : toRfc3339(record.startedAt),
    stopped_at: record.stoppedAt === null ? null : toRfc3339(record.stoppedAt),
    has_snapshot: record.state === 'Standby',
  };
}
