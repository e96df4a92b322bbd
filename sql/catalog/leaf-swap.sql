-- What a purge needs to know to swap a dedicated leaf ($1 = leaf oid) for an
-- empty twin, and what would stop it (anything on the leaf itself that a
-- table built LIKE its parent and attached would not get back).
-- partstrat 'l' = LIST; relreplident 'i' = replica identity USING INDEX;
-- tgparentid = 0 and not tgisinternal = a trigger of the leaf's own (PG 13+);
-- coninhcount = 0 and conparentid = 0 = a constraint of the leaf's own
-- (contype 'n', NOT NULL on 18, is copied by LIKE; a NOT NULL or a default the
-- parent lacks is looked for in pg_attribute and pg_attrdef instead).
select c.relname as name,
       pg_get_expr(c.relpartbound, c.oid) as bound,
       pn.nspname as parent_schema,
       p.relname as parent_name,
       pt.partstrat = 'l' and pt.partnatts = 1 as parent_list_single,
       (select a.attname from pg_attribute a where a.attrelid = p.oid and a.attnum = pt.partattrs[0]) as parent_key_column,
       (select d.oid::int8::text from pg_inherits i join pg_class d on d.oid = i.inhrelid
         where i.inhparent = p.oid and pg_get_expr(d.relpartbound, d.oid) = 'DEFAULT') as parent_default_oid,
       pg_total_relation_size(c.oid)::text as total_bytes,
       pg_get_userbyid(c.relowner) as owner,
       pg_get_userbyid(c.relowner) = current_user as owned_by_us,
       pg_has_role(current_user, c.relowner, 'USAGE') as owner_is_us,
       c.reloptions as reloptions,
       c.relreplident as replica_identity,
       (select ts.spcname from pg_tablespace ts where ts.oid = c.reltablespace) as tablespace,
       (select t.reloptions from pg_class t where t.oid = c.reltoastrelid) as toast_reloptions,
       coalesce((select json_agg(json_build_object('grantee', case when a.grantee = 0 then 'public' else pg_get_userbyid(a.grantee) end,
                                                   'privilege', a.privilege_type, 'grantable', a.is_grantable))
                 from aclexplode(c.relacl) a where a.grantee <> c.relowner), '[]') as grants,
       obj_description(c.oid, 'pg_class') as comment,
       array_remove(array[
         case when c.relrowsecurity or c.relforcerowsecurity then 'row-level security on the partition itself' end,
         case when c.relreplident = 'i' then 'a replica identity index on the partition' end,
         case when exists (select 1 from pg_trigger t where t.tgrelid = c.oid and not t.tgisinternal and t.tgparentid = 0) then 'triggers of its own' end,
         case when exists (select 1 from pg_policy x where x.polrelid = c.oid) then 'policies of its own' end,
         case when exists (select 1 from pg_rewrite r where r.ev_class = c.oid) then 'rules' end,
         case when exists (select 1 from pg_publication_rel r where r.prrelid = c.oid) then 'a publication that lists it' end,
         case when exists (select 1 from pg_constraint k where k.conrelid = c.oid and k.contype <> 'n' and k.coninhcount = 0 and k.conparentid = 0) then 'constraints of its own' end,
         case when exists (select 1 from pg_index x where x.indrelid = c.oid and not exists (select 1 from pg_inherits i where i.inhrelid = x.indexrelid)) then 'indexes of its own' end,
         case when exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and a.attacl is not null) then 'column privileges' end,
         case when exists (select 1 from pg_attribute a join pg_attribute pa on pa.attrelid = p.oid and pa.attname = a.attname
                           where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attnotnull and not pa.attnotnull) then 'NOT NULL columns of its own' end,
         case when exists (select 1 from pg_attrdef d join pg_attribute a on a.attrelid = d.adrelid and a.attnum = d.adnum
                           left join pg_attribute pa on pa.attrelid = p.oid and pa.attname = a.attname
                           left join pg_attrdef pd on pd.adrelid = p.oid and pd.adnum = pa.attnum
                           where d.adrelid = c.oid and pg_get_expr(d.adbin, d.adrelid) is distinct from pg_get_expr(pd.adbin, pd.adrelid)) then 'column defaults of its own' end,
         case when exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e') then 'an extension owns it' end,
         case when exists (select 1 from pg_depend d join pg_rewrite r on r.oid = d.objid where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass and d.refobjid = c.oid and r.ev_class <> c.oid) then 'views that read it directly' end
       ], null) as blockers
from pg_class c
join pg_inherits h on h.inhrelid = c.oid
join pg_class p on p.oid = h.inhparent
join pg_namespace pn on pn.oid = p.relnamespace
join pg_partitioned_table pt on pt.partrelid = p.oid
where c.oid = $1::oid
