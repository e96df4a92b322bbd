-- User triggers of a table ($1 = table oid); internal (FK) triggers excluded.
select t.tgname as name, pg_get_triggerdef(t.oid) as definition, t.tgenabled <> 'D' as enabled,
       quote_ident(n.nspname) || '.' || quote_ident(c.relname) as on_text
from pg_trigger t
join pg_class c on c.oid = t.tgrelid
join pg_namespace n on n.oid = c.relnamespace
where t.tgrelid = $1::oid and not t.tgisinternal
order by t.tgname
