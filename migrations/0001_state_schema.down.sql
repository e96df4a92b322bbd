-- The schema itself stays: it holds kysely's migration bookkeeping.
drop table if exists partgov.gate_run;
drop table if exists partgov.audit_log;
drop table if exists partgov.backfill_batch;
drop table if exists partgov.backfill_checkpoint;
drop table if exists partgov.run;
