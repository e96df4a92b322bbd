-- partgov's own state: runs, backfill checkpoints, audit log, gate runs.
-- Lives in schema "partgov"; kysely's Migrator records this file in partgov.kysely_migration.

create table partgov.run (
  id bigserial primary key,
  command text not null,
  table_name text,
  app_env text not null,
  status text not null default 'running' check (status in ('running', 'succeeded', 'failed')),
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  args jsonb not null default '{}',
  result jsonb,
  error text
);
create index run_command_table_idx on partgov.run (command, table_name, started_at desc);

-- One row per table being backfilled: the last copied key, updated in the same
-- transaction as the batch it describes, so a crash can never leave them apart.
create table partgov.backfill_checkpoint (
  table_name text primary key,
  run_id bigint references partgov.run (id) on delete set null,
  last_key jsonb,
  rows_copied bigint not null default 0,
  batches bigint not null default 0,
  done boolean not null default false,
  started_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- Per-batch record: key range, row count and an order-independent checksum of the copied rows.
create table partgov.backfill_batch (
  table_name text not null,
  batch_no bigint not null,
  first_key jsonb not null,
  last_key jsonb not null,
  row_count integer not null,
  checksum text not null,
  duration_ms integer not null,
  created_at timestamptz not null default now(),
  primary key (table_name, batch_no)
);

create table partgov.audit_log (
  id bigserial primary key,
  at timestamptz not null default now(),
  actor text not null default current_user,
  app_env text not null,
  command text not null,
  table_name text,
  tenant_id text,
  scope text,
  dry_run boolean not null default false,
  outcome text not null check (outcome in ('planned', 'succeeded', 'failed', 'refused')),
  steps jsonb not null default '[]',
  details jsonb not null default '{}'
);
create index audit_log_table_at_idx on partgov.audit_log (table_name, at desc);

create table partgov.gate_run (
  run_id text primary key,
  started_at timestamptz not null,
  finished_at timestamptz,
  ok boolean,
  summary jsonb
);
