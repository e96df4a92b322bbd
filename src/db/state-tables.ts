import type { ColumnType, Generated } from 'kysely';

/** Typed view of partgov's state schema (migrations/0001_state_schema.up.sql). */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T = unknown> = ColumnType<T, string | undefined, string>;
/** An SQL expression (e.g. sql`rows_copied + ${n}`) accepted in an update. */
type RawBuilderLike = import('kysely').RawBuilder<unknown>;

export interface RunTable {
  id: Generated<string>;
  command: string;
  table_name: string | null;
  app_env: string;
  status: Generated<'running' | 'succeeded' | 'failed'>;
  started_at: Generated<Date>;
  finished_at: Timestamp | null;
  args: Json<Record<string, unknown>>;
  result: Json | null;
  error: string | null;
}

export interface BackfillCheckpointTable {
  table_name: string;
  run_id: string | null;
  last_key: Json<unknown[] | null> | null;
  rows_copied: ColumnType<string, number | string | undefined, number | string | RawBuilderLike>;
  batches: ColumnType<string, number | string | undefined, number | string | RawBuilderLike>;
  done: ColumnType<boolean, boolean | undefined, boolean>;
  started_at: Generated<Date>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string | RawBuilderLike>;
  shadow_table: string | null;
  deferred_indexes: Json<unknown[]>;
  offline_batches: ColumnType<string, number | string | undefined, number | string | RawBuilderLike>;
}

export interface BackfillBatchTable {
  table_name: string;
  batch_no: ColumnType<string, number | string, number | string>;
  first_key: Json<unknown[]>;
  last_key: Json<unknown[]>;
  row_count: number;
  checksum: string;
  duration_ms: number;
  created_at: Generated<Date>;
}

export interface AuditLogTable {
  id: Generated<string>;
  at: Generated<Date>;
  actor: Generated<string>;
  app_env: string;
  command: string;
  table_name: string | null;
  tenant_id: string | null;
  scope: string | null;
  dry_run: Generated<boolean>;
  outcome: 'planned' | 'succeeded' | 'failed' | 'refused';
  steps: Json<unknown[]>;
  details: Json<Record<string, unknown>>;
}

export interface GateRunTable {
  run_id: string;
  started_at: Timestamp;
  finished_at: Timestamp | null;
  ok: boolean | null;
  summary: Json | null;
}

export interface StateDatabase {
  'partgov.run': RunTable;
  'partgov.backfill_checkpoint': BackfillCheckpointTable;
  'partgov.backfill_batch': BackfillBatchTable;
  'partgov.audit_log': AuditLogTable;
  'partgov.gate_run': GateRunTable;
}

/** The kysely instance type every partgov function takes. */
export type PartgovKysely = import('kysely').Kysely<StateDatabase>;
