drop table if exists partgov.purge_archived_row;
