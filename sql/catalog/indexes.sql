-- Indexes of a table ($1 = table oid), with the full definition from
-- pg_get_indexdef (partial, expression, INCLUDE, opclass, collation, order).
-- key_columns lists plain key columns by name; an expression key is NULL there.
select ic.relname as name,
       pg_get_indexdef(i.indexrelid) as definition,
       i.indisunique as is_unique,
       i.indisprimary as is_primary,
       i.indisvalid as is_valid,
       exists (select 1 from pg_constraint c where c.conindid = i.indexrelid and c.conrelid = i.indrelid
                                             and c.contype in ('p', 'u', 'x')) as backs_constraint,
       array(select a.attname::text
             from unnest(i.indkey[0:i.indnkeyatts - 1]) with ordinality as k(attnum, ord)
             left join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
             order by k.ord) as key_columns,
       i.indexprs is not null as has_expressions,
       pg_get_expr(i.indpred, i.indrelid) as predicate
from pg_index i
join pg_class ic on ic.oid = i.indexrelid
where i.indrelid = $1::oid
order by ic.relname
