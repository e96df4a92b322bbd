-- Tables whose change log reads key columns by name: renaming or dropping one of
-- them would make the capture trigger fail the application's writes. An event
-- trigger (installed by `sync enable` when the role may create one) refuses such
-- DDL while the table is listed here.
create table partgov.sync_guard (
  relid oid primary key,
  table_name text not null,
  key_columns text[] not null
);
