-- The row versions a purge with --archive put into its archive, for each table it
-- DELETEs from (recorded in the archive's own snapshot). Its DELETE removes exactly
-- these, matched by ctid and xmin (a row updated, or deleted and written again, since
-- the snapshot is a new version), so a row the application writes to the scope after
-- the archive is left in place and named, never deleted without being archived.
-- Unlogged: only the purge that wrote them reads them; the next purge of the scope
-- replaces a killed run's.
create unlogged table partgov.purge_archived_row (
  tenant_id text not null,
  scope text not null,
  relid oid not null,
  row_ctid tid not null,
  row_xmin xid not null,
  primary key (tenant_id, scope, relid, row_ctid)
);
