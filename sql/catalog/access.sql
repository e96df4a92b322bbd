-- Who may see and do what on a table ($1 = table oid), for plan to carry over
-- to the shadow and for copy/verify to refuse when rows would be hidden.
-- row_security_active(): row-level security applies to the *current* role
-- (enabled, and the role is not the owner unless FORCEd, and has no BYPASSRLS).
-- grants: aclexplode of relacl, grantee 0 is PUBLIC; the owner's implicit
-- rights are left out (they come with ownership).
-- owned_by_current_user: plan leaves ownership alone when the role planning owns the table.
select c.relrowsecurity as row_security,
       c.relowner = (select oid from pg_roles where rolname = current_user) as owned_by_current_user,
       c.relforcerowsecurity as force_row_security,
       row_security_active(c.oid) as row_security_active,
       obj_description(c.oid, 'pg_class') as comment,
       coalesce((select json_agg(json_build_object(
                  'name', p.polname,
                  'command', case p.polcmd when 'r' then 'select' when 'a' then 'insert' when 'w' then 'update' when 'd' then 'delete' else 'all' end,
                  'permissive', p.polpermissive,
                  'roles', (select coalesce(json_agg(case when r = 0 then 'public' else pg_get_userbyid(r)::text end order by r), '[]') from unnest(p.polroles) r),
                  'using', pg_get_expr(p.polqual, p.polrelid),
                  'with_check', pg_get_expr(p.polwithcheck, p.polrelid)) order by p.polname)
                 from pg_policy p where p.polrelid = c.oid), '[]') as policies,
       coalesce((select json_agg(json_build_object(
                  'grantee', case when a.grantee = 0 then 'public' else pg_get_userbyid(a.grantee)::text end,
                  'privilege', a.privilege_type,
                  'grantable', a.is_grantable) order by a.grantee, a.privilege_type)
                 from aclexplode(c.relacl) a where a.grantee <> c.relowner), '[]') as grants,
       -- Column privileges (GRANT UPDATE (col) …): an application role may hold only these.
       coalesce((select json_agg(json_build_object(
                  'column', a.attname,
                  'grantee', case when x.grantee = 0 then 'public' else pg_get_userbyid(x.grantee)::text end,
                  'privilege', x.privilege_type,
                  'grantable', x.is_grantable) order by a.attnum, x.grantee, x.privilege_type)
                 from pg_attribute a cross join lateral aclexplode(a.attacl) x
                 where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attacl is not null and x.grantee <> c.relowner), '[]') as column_grants,
       coalesce((select json_agg(json_build_object('column', a.attname, 'comment', d.description) order by a.attnum)
                 from pg_description d join pg_attribute a on a.attrelid = d.objoid and a.attnum = d.objsubid
                 where d.classoid = 'pg_class'::regclass and d.objoid = c.oid and d.objsubid > 0), '[]') as column_comments
from pg_class c
where c.oid = $1::oid
