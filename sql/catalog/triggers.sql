-- User triggers of a table ($1 = table oid); internal (FK) triggers excluded.
select t.tgname as name, pg_get_triggerdef(t.oid) as definition, t.tgenabled <> 'D' as enabled
from pg_trigger t
where t.tgrelid = $1::oid and not t.tgisinternal
order by t.tgname
