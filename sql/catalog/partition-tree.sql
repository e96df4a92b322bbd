-- Every relation in a partition tree ($1 = root oid), root first.
-- bound is pg_get_expr(relpartbound): 'FOR VALUES WITH (modulus 32, remainder 7)',
-- 'FOR VALUES IN (...)', 'FOR VALUES FROM (...) TO (...)' or 'DEFAULT'.
select n.nspname as schema,
       c.relname as name,
       c.oid::int8::text as oid,
       pn.nspname as parent_schema,
       p.relname as parent_name,
       t.isleaf as is_leaf,
       t.level,
       pg_get_expr(c.relpartbound, c.oid) as bound,
       pg_get_partkeydef(c.oid) as partition_key,
       greatest(c.reltuples, 0)::int8::text as row_estimate,
       pg_total_relation_size(c.oid)::text as total_bytes
from pg_partition_tree($1::oid::regclass) t
join pg_class c on c.oid = t.relid
join pg_namespace n on n.oid = c.relnamespace
left join pg_class p on p.oid = t.parentrelid
left join pg_namespace pn on pn.oid = p.relnamespace
order by t.level, c.relname
