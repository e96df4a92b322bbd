-- Sequences owned by a table's columns ($1 = table oid): serial columns
-- (deptype 'a', auto) and identity columns (deptype 'i', internal).
select quote_ident(sn.nspname) || '.' || quote_ident(s.relname) as sequence,
       a.attname as column_name,
       d.deptype = 'i' as is_identity
from pg_depend d
join pg_class s on s.oid = d.objid and s.relkind = 'S'
join pg_namespace sn on sn.oid = s.relnamespace
join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
where d.refobjid = $1::oid and d.classid = 'pg_class'::regclass and d.deptype in ('a', 'i')
order by a.attname
