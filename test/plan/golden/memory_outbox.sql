-- partgov plan: public.memory_outbox -> public.memory_outbox_shadow (range, key created_at, scope_key, 10 leaves)
-- change: PRIMARY KEY (id) becomes PRIMARY KEY (created_at, scope_key, id): a partitioned table's primary key must include the partition key
-- change: (id) alone is no longer unique on the shadow: the application's INSERT … ON CONFLICT (id) fails there; after cutover it must say ON CONFLICT (created_at, scope_key, id), and cutover asks for this change to be acknowledged
-- change: range partitions from 2026-11-01 to 2027-03-01 (3 month(s) premade ahead); rows outside go to the DEFAULT partition
-- change: index memory_outbox_id_idx on (id) is added: a lookup by the legacy key alone probes it in each of the 10 partitions instead of reading them all (tables[].key_lookup_index: false leaves it off)
-- note: after cutover, an UPDATE that changes created_at, scope_key can move the row to another partition; another session's UPDATE or DELETE of that row at the same moment fails with SQLSTATE 40001 ("already moved to another partition"), which the application must retry (runbooks/cutover-and-rollback.md)
-- note: after cutover a unique violation names the partition's own index (<partition>_<columns>_key), not memory_outbox_pkey: an application that maps constraint names from errors must match those; ON CONFLICT ON CONSTRAINT keeps the names (cutover renames the indexes)
-- note: sequence public.memory_outbox_id_seq is owned by memory_outbox.id; the shadow's default uses the same sequence, so ids never collide. Move its ownership (ALTER SEQUENCE … OWNED BY) before dropping the legacy table

-- create public.memory_outbox_shadow, partitioned by range (created_at) per month, sub-partitioned by list (scope_key)
create table "public"."memory_outbox_shadow" (
  "id" bigint default nextval('memory_outbox_id_seq'::regclass) not null,
  "tenant_id" text not null,
  "scope" text not null,
  "scope_key" text not null,
  "event_type" text not null,
  "payload" jsonb not null,
  "attempts" integer default 0 not null,
  "created_at" timestamp with time zone default now() not null,
  "published_at" timestamp with time zone,
  constraint "memory_outbox_shadow_pkey" primary key ("created_at", "scope_key", "id")
) partition by range ("created_at");

-- partition memory_outbox_2026_11 for values from ('2026-11-01 00:00:00+00') to ('2026-12-01 00:00:00+00')
create table "public"."memory_outbox_2026_11" partition of "public"."memory_outbox_shadow" for values from ('2026-11-01 00:00:00+00') to ('2026-12-01 00:00:00+00') partition by list ("scope_key");

-- partition memory_outbox_2026_11_perf_perf_ab16ef56 for values in ('perf:perf')
create table "public"."memory_outbox_2026_11_perf_perf_ab16ef56" partition of "public"."memory_outbox_2026_11" for values in ('perf:perf');

-- partition memory_outbox_2026_11_default default
create table "public"."memory_outbox_2026_11_default" partition of "public"."memory_outbox_2026_11" default;

-- partition memory_outbox_2026_12 for values from ('2026-12-01 00:00:00+00') to ('2027-01-01 00:00:00+00')
create table "public"."memory_outbox_2026_12" partition of "public"."memory_outbox_shadow" for values from ('2026-12-01 00:00:00+00') to ('2027-01-01 00:00:00+00') partition by list ("scope_key");

-- partition memory_outbox_2026_12_perf_perf_ab16ef56 for values in ('perf:perf')
create table "public"."memory_outbox_2026_12_perf_perf_ab16ef56" partition of "public"."memory_outbox_2026_12" for values in ('perf:perf');

-- partition memory_outbox_2026_12_default default
create table "public"."memory_outbox_2026_12_default" partition of "public"."memory_outbox_2026_12" default;

-- partition memory_outbox_2027_01 for values from ('2027-01-01 00:00:00+00') to ('2027-02-01 00:00:00+00')
create table "public"."memory_outbox_2027_01" partition of "public"."memory_outbox_shadow" for values from ('2027-01-01 00:00:00+00') to ('2027-02-01 00:00:00+00') partition by list ("scope_key");

-- partition memory_outbox_2027_01_perf_perf_ab16ef56 for values in ('perf:perf')
create table "public"."memory_outbox_2027_01_perf_perf_ab16ef56" partition of "public"."memory_outbox_2027_01" for values in ('perf:perf');

-- partition memory_outbox_2027_01_default default
create table "public"."memory_outbox_2027_01_default" partition of "public"."memory_outbox_2027_01" default;

-- partition memory_outbox_2027_02 for values from ('2027-02-01 00:00:00+00') to ('2027-03-01 00:00:00+00')
create table "public"."memory_outbox_2027_02" partition of "public"."memory_outbox_shadow" for values from ('2027-02-01 00:00:00+00') to ('2027-03-01 00:00:00+00') partition by list ("scope_key");

-- partition memory_outbox_2027_02_perf_perf_ab16ef56 for values in ('perf:perf')
create table "public"."memory_outbox_2027_02_perf_perf_ab16ef56" partition of "public"."memory_outbox_2027_02" for values in ('perf:perf');

-- partition memory_outbox_2027_02_default default
create table "public"."memory_outbox_2027_02_default" partition of "public"."memory_outbox_2027_02" default;

-- partition memory_outbox_default default
create table "public"."memory_outbox_default" partition of "public"."memory_outbox_shadow" default partition by list ("scope_key");

-- partition memory_outbox_default_perf_perf_ab16ef56 for values in ('perf:perf')
create table "public"."memory_outbox_default_perf_perf_ab16ef56" partition of "public"."memory_outbox_default" for values in ('perf:perf');

-- partition memory_outbox_default_default default
create table "public"."memory_outbox_default_default" partition of "public"."memory_outbox_default" default;

-- index memory_outbox_scope_idx_shadow (copy of memory_outbox_scope_idx) on the parent and every partition
create index "memory_outbox_scope_idx_shadow" on "public"."memory_outbox_shadow" using btree (scope_key, created_at);

-- index memory_outbox_unpublished_idx_shadow (copy of memory_outbox_unpublished_idx) on the parent and every partition
create index "memory_outbox_unpublished_idx_shadow" on "public"."memory_outbox_shadow" using btree (created_at) WHERE (published_at IS NULL);

-- index memory_outbox_id_idx on (id): lookups by the legacy key alone probe it in each partition
create index "memory_outbox_id_idx" on "public"."memory_outbox_shadow" ("id");
