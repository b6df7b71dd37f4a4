/** The Snapshot resource as the API returns it: hypeman's fields plus vmkeep's own. */
import type { HypervisorKind } from '@vmkeep/hypervisor';
import type { SnapshotRecord, SnapshotStatus } from '../../store/snapshots-repo.js';
import { toRfc3339 } from '../clock.js';
import type { SnapshotKind } from '../instances/state.js';

/** A snapshot as the API returns it. */
export interface Snapshot {
  id: string;
  name: string | null;
  kind: SnapshotKind;
  tags: Record<string, string>;
  source_instance_id: string;
  source_instance_name: string;
  source_hypervisor: HypervisorKind;
  created_at: string;
  size_bytes: number;
  status: SnapshotStatus;
  pinned: boolean;
  /** Provenance of a scheduled snapshot; null for a manual one. Never client-writable. */
  schedule: { instance_id: string; run_id: string | null } | null;
  /** The earliest time the current retention policy may delete it; null if none would. */
  expires_at: string | null;
  /** How long the guest was frozen by the capture. */
  downtime_ms: number | null;
}

/**
 * When retention may delete a snapshot (epoch ms), or null. Schedules know; the snapshots
 * domain does not, so the server passes this in (see `schedule-ports.ts`).
 */
export type SnapshotExpiry = (record: SnapshotRecord) => number | null;

/** The API object for a snapshot record. */
export function toSnapshot(record: SnapshotRecord, expiry: SnapshotExpiry = () => null): Snapshot {
  const expiresAt = expiry(record);
  return {
    id: record.id,
    name: record.name,
    kind: record.kind,
    tags: { ...record.tags },
    source_instance_id: record.sourceInstanceId,
    source_instance_name: record.sourceInstanceName,
    source_hypervisor: record.sourceHypervisor,
    created_at: toRfc3339(record.createdAt),
    size_bytes: record.sizeBytes,
    status: record.status,
    pinned: record.pinned,
    schedule:
      record.scheduleInstanceId === null
        ? null
        : { instance_id: record.scheduleInstanceId, run_id: record.scheduleRunId },
    expires_at: expiresAt === null ? null : toRfc3339(expiresAt),
    downtime_ms: record.downtimeMs,
  };
}
