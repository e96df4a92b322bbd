drop table if exists partgov.sync_rejected;
