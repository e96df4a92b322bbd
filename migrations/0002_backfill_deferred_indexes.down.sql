alter table partgov.backfill_checkpoint
  drop column if exists offline_batches,
  drop column if exists deferred_indexes,
  drop column if exists shadow_table;
