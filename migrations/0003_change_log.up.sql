-- Keys the sync change log could not apply to the shadow (the shadow rejected
-- the legacy row: a constraint, a missing partition). The application's write
-- succeeded; verify lists these keys and cutover refuses while any remain.
-- A later successful replay of the same key removes its row.
create table partgov.sync_rejected (
  table_name text not null,
  key jsonb not null,
  sqlstate text,
  error text not null,
  first_at timestamptz not null default now(),
  last_at timestamptz not null default now(),
  attempts integer not null default 1,
  primary key (table_name, key)
);
