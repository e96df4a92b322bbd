-- Indexes of a table ($1 = table oid), with the full definition from
-- pg_get_indexdef (partial, expression, INCLUDE, opclass, collation, order).
-- key_columns lists plain key columns by name; an expression key is NULL there.
-- using_clause is the definition after "... ON <table> USING ": method, keys,
-- INCLUDE, WITH and WHERE, ready to be put on another table with the same
-- columns. pg_get_indexdef always schema-qualifies the table and quotes with
-- quote_ident, so the prefix below is exactly what it prints; prefix_ok says so.
with d as (
  select i.*, ic.relname as index_name, pg_get_indexdef(i.indexrelid) as def,
         format('CREATE %sINDEX %s ON %s%s.%s USING ',
                case when i.indisunique then 'UNIQUE ' else '' end,
                quote_ident(ic.relname),
                case when tc.relkind = 'p' then 'ONLY ' else '' end,
                quote_ident(tn.nspname), quote_ident(tc.relname)) as prefix
  from pg_index i
  join pg_class ic on ic.oid = i.indexrelid
  join pg_class tc on tc.oid = i.indrelid
  join pg_namespace tn on tn.oid = tc.relnamespace
  where i.indrelid = $1::oid
)
select d.index_name as name,
       d.def as definition,
       d.indisunique as is_unique,
       d.indisprimary as is_primary,
       d.indisvalid as is_valid,
       exists (select 1 from pg_constraint c where c.conindid = d.indexrelid and c.conrelid = d.indrelid
                                             and c.contype in ('p', 'u', 'x')) as backs_constraint,
       array(select a.attname::text
             from unnest(d.indkey[0:d.indnkeyatts - 1]) with ordinality as k(attnum, ord)
             left join pg_attribute a on a.attrelid = d.indrelid and a.attnum = k.attnum
             order by k.ord) as key_columns,
       pg_get_expr(d.indpred, d.indrelid) as predicate,
       left(d.def, length(d.prefix)) = d.prefix as prefix_ok,
       substr(d.def, length(d.prefix) + 1) as using_clause
from d
order by d.index_name
