-- partgov.guard_synced_ddl(): an event trigger function (ddl_command_end) that
-- refuses DDL which removes or renames a column the change log of a synced table
-- reads (its legacy key and partition-key columns): the capture trigger would
-- then fail every application write; and an old-style INHERITS child of a
-- synced table (its rows would be copied, its writes never captured). The DDL
-- is rolled back with the fix. Partitions (after cutover) are not children here.
-- SECURITY DEFINER: it runs for every role's DDL and reads partgov.sync_guard.
create or replace function partgov.guard_synced_ddl() returns event_trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  g record;
  missing text;
begin
  for g in
    select s.table_name, s.key_columns, s.relid
    from partgov.sync_guard s
    where s.relid in (select objid from pg_event_trigger_ddl_commands() where classid = 'pg_class'::regclass)
  loop
    select string_agg(k, ', ') into missing
    from unnest(g.key_columns) k
    where not exists (select 1 from pg_attribute a where a.attrelid = g.relid and a.attname = k and not a.attisdropped);
    if missing is not null then
      raise exception 'partgov: sync is on for %, whose change log reads column(s) %: renaming or dropping them would fail the application''s writes', g.table_name, missing
        using hint = 'run `partgov sync disable --table ' || g.table_name || '` first, change the table and its shadow, plan again, then enable sync and backfill --restart';
    end if;
  end loop;
  for g in
    select s.table_name, d.objid::regclass::text as child
    from pg_event_trigger_ddl_commands() d
    join pg_inherits i on i.inhrelid = d.objid
    join partgov.sync_guard s on s.relid = i.inhparent
    join pg_class c on c.oid = d.objid
    where d.classid = 'pg_class'::regclass and not c.relispartition
  loop
    raise exception 'partgov: sync is on for %: its new inheritance child % would take writes that its sync triggers never see', g.table_name, g.child
      using hint = 'create the table without INHERITS, or run `partgov sync disable --table ' || g.table_name || '` first';
  end loop;
end
$$;
revoke all on function partgov.guard_synced_ddl() from public;
