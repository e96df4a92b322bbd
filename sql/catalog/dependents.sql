-- What points at a table by OID and would stay with it through a rename ($1 = table oid).
-- kind: view / matview (rules in pg_rewrite whose pg_depend entry references the
-- table; a view's definition is JSON of its query and its options, e.g.
-- security_invoker, security_barrier, check_option, which CREATE OR REPLACE would reset;
-- table; relkind 'v' / 'm'), fk_in (a FOREIGN KEY of another table referencing it,
-- contype 'f'; definition = JSON of its definition, the DDL that drops it, the referencing
-- table (regclass text), the columns it references and the referencing table's columns),
-- publication (pg_publication_rel), trigger (a user trigger on the
-- table itself, not partgov's and not internal), replica_identity (relreplident:
-- 'f' FULL, 'i' USING INDEX, 'n' NOTHING; 'd' default is left out).
-- statistics: a column with its own statistics target (attstattarget: -1 before
-- PostgreSQL 17, NULL from 17 on, means the default); name = column, definition = target.
-- function: a function or procedure with a SQL-standard body (BEGIN ATOMIC,
-- PostgreSQL 14+), which binds the table by OID (pg_depend from pg_proc), unlike
-- plpgsql, which looks names up when it runs; definition = pg_get_functiondef.
-- rule: a rewrite rule on the table itself (not a view's _RETURN).
-- policy: a row-level security policy of another table whose expressions read
-- this one (bound by OID); definition = JSON of its table (regclass text) and
-- its USING / WITH CHECK (pg_get_expr).
-- (The table's own policies are plan's: the shadow has its own copies.)
-- definition: what cutover needs to recreate or name it.
select 'view' as kind, format('%I.%I', n.nspname, v.relname) as name,
       json_build_object('query', pg_get_viewdef(v.oid), 'options', coalesce(v.reloptions, '{}'))::text as definition
from pg_depend d
join pg_rewrite r on r.oid = d.objid
join pg_class v on v.oid = r.ev_class
join pg_namespace n on n.oid = v.relnamespace
where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
  and d.refobjid = $1::oid and v.oid <> $1::oid and v.relkind = 'v'
group by n.nspname, v.relname, v.oid, v.reloptions
union all
select 'matview', format('%I.%I', n.nspname, v.relname), null
from pg_depend d
join pg_rewrite r on r.oid = d.objid
join pg_class v on v.oid = r.ev_class
join pg_namespace n on n.oid = v.relnamespace
where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
  and d.refobjid = $1::oid and v.relkind = 'm'
group by n.nspname, v.relname
union all
select 'fk_in', format('%s on %s', c.conname, c.conrelid::regclass),
       json_build_object('definition', pg_get_constraintdef(c.oid), 'drop', format('alter table %s drop constraint %I', c.conrelid::regclass, c.conname),
         'table', c.conrelid::regclass::text,
         'referenced', (select array_agg(a.attname order by k.i) from unnest(c.confkey) with ordinality k(attnum, i) join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.attnum),
         'table_columns', (select array_agg(a.attname order by a.attnum) from pg_attribute a where a.attrelid = c.conrelid and a.attnum > 0 and not a.attisdropped))::text
from pg_constraint c
where c.confrelid = $1::oid and c.contype = 'f' and c.conrelid <> $1::oid
  and c.conparentid = 0 -- a partitioned table's key once, not its copy on each partition (those go with it)
union all
select 'publication', p.pubname, null
from pg_publication_rel pr join pg_publication p on p.oid = pr.prpubid
where pr.prrelid = $1::oid
union all
select 'trigger', t.tgname, pg_get_triggerdef(t.oid)
from pg_trigger t
where t.tgrelid = $1::oid and not t.tgisinternal and t.tgname not like 'partgov\_capture\_%'
union all
select 'replica_identity', case c.relreplident when 'f' then 'full' when 'i' then 'index' else 'nothing' end, null
from pg_class c
where c.oid = $1::oid and c.relreplident <> 'd'
union all
select 'statistics', a.attname::text, a.attstattarget::text
from pg_attribute a
where a.attrelid = $1::oid and a.attnum > 0 and not a.attisdropped and coalesce(a.attstattarget, -1) >= 0
union all
select 'function', p.oid::regprocedure::text, pg_get_functiondef(p.oid)
from pg_depend d
join pg_proc p on p.oid = d.objid
where d.classid = 'pg_proc'::regclass and d.refclassid = 'pg_class'::regclass and d.refobjid = $1::oid
group by p.oid
union all
select 'rule', r.rulename::text, pg_get_ruledef(r.oid)
from pg_rewrite r
where r.ev_class = $1::oid and r.rulename <> '_RETURN'
union all
select 'policy', format('%I on %s', pol.polname, pol.polrelid::regclass),
       json_build_object('policy', pol.polname, 'table', pol.polrelid::regclass::text,
                         'using', pg_get_expr(pol.polqual, pol.polrelid), 'check', pg_get_expr(pol.polwithcheck, pol.polrelid))::text
from pg_depend d
join pg_policy pol on pol.oid = d.objid
where d.classid = 'pg_policy'::regclass and d.refclassid = 'pg_class'::regclass and d.refobjid = $1::oid and pol.polrelid <> $1::oid
group by pol.oid
order by 1, 2
