-- One ordinary ('r') or partitioned ('p') table by schema and name.
-- $1 schema name, $2 table name (exact, case-sensitive: catalog names are not folded).
select c.oid::int8::text as oid,
       c.relkind,
       c.relispartition as is_partition,
       greatest(c.reltuples, 0)::int8::text as row_estimate,
       pg_total_relation_size(c.oid)::text as total_bytes,
       pg_get_partkeydef(c.oid) as partition_key,
       pg_get_userbyid(c.relowner) as owner,
       (select t.spcname from pg_tablespace t where t.oid = c.reltablespace) as tablespace,
       coalesce(c.reloptions, '{}') as reloptions,
       c.relreplident as replica_identity,
       coalesce((select t.reloptions from pg_class t where t.oid = c.reltoastrelid), '{}') as toast_reloptions,
       -- Old-style (INHERITS) children of an ordinary table: reading it reads them too.
       case when c.relkind = 'r' then array(
         select cn.nspname || '.' || cc.relname from pg_inherits i join pg_class cc on cc.oid = i.inhrelid
         join pg_namespace cn on cn.oid = cc.relnamespace where i.inhparent = c.oid order by 1) else '{}' end as inheritance_children
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p')
