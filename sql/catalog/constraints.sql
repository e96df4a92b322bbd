-- Table constraints ($1 = table oid). contype: p primary key, u unique, c check,
-- f foreign key, x exclusion. Not-null ('n', PostgreSQL 18+) and constraint
-- triggers ('t') are left out: not-null is a column property in the model and
-- constraint triggers are listed with the triggers.
select c.conname as name,
       c.contype as type,
       pg_get_constraintdef(c.oid) as definition,
       coalesce(array(select a.attname::text
                      from unnest(c.conkey) with ordinality as k(attnum, ord)
                      join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum
                      order by k.ord), '{}') as columns,
       case when c.conindid <> 0 then (select relname from pg_class where oid = c.conindid) end as index_name,
       c.convalidated as validated,
       c.confrelid::regclass::text as references_table
from pg_constraint c
where c.conrelid = $1::oid and c.contype in ('p', 'u', 'c', 'f', 'x')
order by case c.contype when 'p' then 0 when 'u' then 1 when 'x' then 2 when 'c' then 3 else 4 end, c.conname
