drop event trigger if exists partgov_guard_synced_ddl;
drop function if exists partgov.guard_synced_ddl();
drop table if exists partgov.sync_guard;
