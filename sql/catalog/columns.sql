-- Columns of a table in attnum order ($1 = table oid).
-- attidentity: 'a' GENERATED ALWAYS, 'd' BY DEFAULT, '' none.
-- attgenerated: 's' stored generated column ('v' virtual, PostgreSQL 18+), '' none.
-- hash_function: the 64-bit seeded hash of the (domain's base) type, {schema,
-- name, direct}: support function 2 of its default hash opclass,
-- hash_array_extended for an array of such a type, hashenumextended for an
-- enum; null when it has none (checksums then hash the value as text). direct
-- 'false' when the function is declared for another, binary-compatible type
-- (timestamptz's is timestamp_hash_extended(timestamp) before PostgreSQL 18):
-- SQL cannot call it without a cast that changes the value, or for an
-- `internal` argument, which SQL cannot pass at all (bytea's
-- hashvarlenaextended(internal, int8) before PostgreSQL 16).
-- collation is reported only when it differs from the type's default, so the
-- DDL clones an explicit COLLATE and nothing else.
-- nondeterministic: the column's collation compares unequal strings as equal
-- (e.g. case-insensitive ICU); checksums must then hash under "C".
-- identity_options: the identity sequence's own options (deptype 'i' links the
-- sequence to its column), so the shadow's sequence counts the same way.
select a.attnum,
       a.attname as name,
       format_type(a.atttypid, a.atttypmod) as type,
       a.attnotnull as not_null,
       pg_get_expr(d.adbin, d.adrelid) as default_expr,
       a.attidentity as identity,
       a.attgenerated as generated,
       case when a.attcollation <> 0 and a.attcollation <> t.typcollation
            then quote_ident(cn.nspname) || '.' || quote_ident(co.collname) end as collation,
       t.typcategory as type_category,
       coalesce(not co.collisdeterministic, false) as nondeterministic,
       (select format('start with %s increment by %s minvalue %s maxvalue %s cache %s%s',
                      s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, case when s.seqcycle then ' cycle' else '' end)
          from pg_depend dep join pg_sequence s on s.seqrelid = dep.objid
         where dep.classid = 'pg_class'::regclass and dep.refclassid = 'pg_class'::regclass
           and dep.refobjid = a.attrelid and dep.refobjsubid = a.attnum and dep.deptype = 'i') as identity_options,
       (select array[pn.nspname::text, pp.proname::text, (pp.proargtypes[0] = bt.oid or (pp.proargtypes[0] <> 'internal'::regtype and (select typtype = 'p' from pg_type where oid = pp.proargtypes[0])))::text]
          from pg_opclass oc
          join pg_am am on am.oid = oc.opcmethod and am.amname = 'hash'
          join pg_amproc ap on ap.amprocfamily = oc.opcfamily and ap.amprocnum = 2
                           and ap.amproclefttype = oc.opcintype and ap.amprocrighttype = oc.opcintype
          join pg_proc pp on pp.oid = ap.amproc
          join pg_namespace pn on pn.oid = pp.pronamespace
         where oc.opcdefault
           and (oc.opcintype = bt.oid or (bt.typtype = 'e' and oc.opcintype = 'anyenum'::regtype)
                or (bt.typelem <> 0 and bt.typcategory = 'A' and oc.opcintype = 'anyarray'::regtype
                    and exists (select 1 from pg_opclass eo join pg_amproc ep on ep.amprocfamily = eo.opcfamily and ep.amprocnum = 2
                                 and ep.amproclefttype = eo.opcintype and ep.amprocrighttype = eo.opcintype
                                 where eo.opcmethod = am.oid and eo.opcdefault and eo.opcintype = bt.typelem)))
         order by oc.opcintype = bt.oid desc
         limit 1) as hash_function
from pg_attribute a
join pg_type t on t.oid = a.atttypid
join pg_type bt on bt.oid = case when t.typtype = 'd' then t.typbasetype else t.oid end
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
left join pg_collation co on co.oid = a.attcollation
left join pg_namespace cn on cn.oid = co.collnamespace
where a.attrelid = $1::oid and a.attnum > 0 and not a.attisdropped
order by a.attnum
