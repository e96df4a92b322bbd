-- Extended statistics objects (CREATE STATISTICS) on a table ($1 = table oid).
-- kinds: stxkind without 'e' (expression statistics, implied by an expression
-- in the list): d = ndistinct, f = dependencies, m = mcv. columns: the list as
-- CREATE STATISTICS takes it (PostgreSQL 14+).
select n.nspname as schema,
       s.stxname as name,
       array(select k::text from unnest(s.stxkind) k where k <> 'e') as kinds,
       pg_get_statisticsobjdef_columns(s.oid) as columns
from pg_statistic_ext s
join pg_namespace n on n.oid = s.stxnamespace
where s.stxrelid = $1::oid
order by 2
