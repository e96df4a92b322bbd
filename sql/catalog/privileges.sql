-- What the current role may do on a table ($1 = table oid). DDL (rename,
-- triggers, attach) needs ownership, which membership in the owning role gives.
select has_table_privilege($1::oid, 'SELECT') as can_select,
       has_table_privilege($1::oid, 'INSERT') as can_insert,
       has_table_privilege($1::oid, 'UPDATE') as can_update,
       has_table_privilege($1::oid, 'DELETE') as can_delete,
       has_table_privilege($1::oid, 'TRIGGER') as can_trigger,
       pg_has_role((select relowner from pg_class where oid = $1::oid), 'USAGE') as is_owner
