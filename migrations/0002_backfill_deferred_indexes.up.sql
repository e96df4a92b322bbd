-- Indexes a --defer-indexes backfill dropped from the shadow, kept with the
-- checkpoint so a run killed mid-copy still rebuilds them when resumed.
-- offline_batches counts batches copied while sync was off: rows changed between
-- such a copy and enabling sync are stale until re-copied (backfill --restart).
alter table partgov.backfill_checkpoint
  add column shadow_table text,
  add column deferred_indexes jsonb not null default '[]',
  add column offline_batches bigint not null default 0;
