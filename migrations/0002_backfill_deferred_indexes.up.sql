-- Indexes a --defer-indexes backfill dropped from the shadow, kept with the
-- checkpoint so a run killed mid-copy still rebuilds them when resumed.
alter table partgov.backfill_checkpoint
  add column shadow_table text,
  add column deferred_indexes jsonb not null default '[]';
