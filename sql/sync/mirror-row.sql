-- partgov.mirror_row(): the dual-write trigger function. One generic function
-- for every table: partgov generates the statements per table (identifiers
-- quoted through kysely) and passes them as trigger arguments:
--   TG_ARGV[0] upsert:  insert into <target> (<cols>) values (($1).<col>, …)
--                       on conflict (<target key>) do update set (<cols>) = row(excluded.<col>, …)
--   TG_ARGV[1] delete:  delete from <target> where (<target key>) = (($1).<key col>, …)
--   TG_ARGV[2] key-changed test: select ($1).<key col> is distinct from ($2).<key col> or …
-- $1/$2 are bound to NEW/OLD with EXECUTE … USING, never spliced into text.
-- Upsert semantics make the target's final row the source's final row whatever
-- the interleaving with a concurrent backfill (which inserts with DO NOTHING).
create or replace function partgov.mirror_row() returns trigger
language plpgsql as $$
declare
  key_changed boolean;
begin
  if TG_OP = 'DELETE' then
    execute TG_ARGV[1] using OLD;
    return null;
  end if;
  if TG_OP = 'UPDATE' then
    execute TG_ARGV[2] into key_changed using NEW, OLD;
    if key_changed then
      execute TG_ARGV[1] using OLD;
    end if;
  end if;
  execute TG_ARGV[0] using NEW;
  return null;
end
$$;

-- TRUNCATE of the source truncates the target: the target must stay exact.
-- TG_ARGV[0]: truncate <target>.
create or replace function partgov.mirror_truncate() returns trigger
language plpgsql as $$
begin
  execute TG_ARGV[0];
  return null;
end
$$;
