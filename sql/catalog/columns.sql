-- Columns of a table in attnum order ($1 = table oid).
-- attidentity: 'a' GENERATED ALWAYS, 'd' BY DEFAULT, '' none.
-- attgenerated: 's' stored generated column ('v' virtual, PostgreSQL 18+), '' none.
-- collation is reported only when it differs from the type's default, so the
-- DDL clones an explicit COLLATE and nothing else.
select a.attnum,
       a.attname as name,
       format_type(a.atttypid, a.atttypmod) as type,
       a.attnotnull as not_null,
       pg_get_expr(d.adbin, d.adrelid) as default_expr,
       a.attidentity as identity,
       a.attgenerated as generated,
       case when a.attcollation <> 0 and a.attcollation <> t.typcollation
            then quote_ident(cn.nspname) || '.' || quote_ident(co.collname) end as collation,
       t.typcategory as type_category
from pg_attribute a
join pg_type t on t.oid = a.atttypid
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
left join pg_collation co on co.oid = a.attcollation
left join pg_namespace cn on cn.oid = co.collnamespace
where a.attrelid = $1::oid and a.attnum > 0 and not a.attisdropped
order by a.attnum
