-- partgov plan: public.memory_commits -> public.memory_commits_shadow (isolatable, key scope_key, 33 leaves)
-- change: PRIMARY KEY (id) becomes PRIMARY KEY (scope_key, id): a partitioned table's primary key must include the partition key
-- change: (id) alone is no longer unique on the shadow: the application's INSERT … ON CONFLICT (id) fails there; after cutover it must say ON CONFLICT (scope_key, id), and cutover asks for this change to be acknowledged
-- change: index memory_commits_id_idx on (id) is added: a lookup by the legacy key alone probes it in each of the 33 partitions instead of reading them all (tables[].key_lookup_index: false leaves it off)
-- note: after cutover, an UPDATE that changes scope_key can move the row to another partition; another session's UPDATE or DELETE of that row at the same moment fails with SQLSTATE 40001 ("already moved to another partition"), which the application must retry (runbooks/cutover-and-rollback.md)
-- note: after cutover a unique violation names the partition's own index (<partition>_<columns>_key), not memory_commits_pkey or memory_commits_scope_key_commit_hash_key: an application that maps constraint names from errors must match those; ON CONFLICT ON CONSTRAINT keeps the names (cutover renames the indexes)
-- note: sequence public.memory_commits_id_seq is owned by memory_commits.id; the shadow's default uses the same sequence, so ids never collide. Move its ownership (ALTER SEQUENCE … OWNED BY) before dropping the legacy table

-- create public.memory_commits_shadow, partitioned by list (scope_key): 1 isolated scope(s) + a DEFAULT hashed into 32
create table "public"."memory_commits_shadow" (
  "id" bigint default nextval('memory_commits_id_seq'::regclass) not null,
  "tenant_id" text not null,
  "scope" text not null,
  "scope_key" text not null,
  "commit_hash" text not null,
  "parent_hash" text,
  "author" text not null,
  "message" text not null,
  "diff" jsonb default '{}'::jsonb not null,
  "created_at" timestamp with time zone default now() not null,
  constraint "memory_commits_shadow_pkey" primary key ("scope_key", "id"),
  constraint "memory_commits_scope_key_commit_hash_key_shadow" UNIQUE (scope_key, commit_hash)
) partition by list ("scope_key");

-- partition memory_commits_iso_perf_perf_ab16ef56 for values in ('perf:perf')
create table "public"."memory_commits_iso_perf_perf_ab16ef56" partition of "public"."memory_commits_shadow" for values in ('perf:perf');

-- partition memory_commits_default default
create table "public"."memory_commits_default" partition of "public"."memory_commits_shadow" default partition by hash ("scope_key");

-- partition memory_commits_default_p00 for values with (modulus 32, remainder 0)
create table "public"."memory_commits_default_p00" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 0);

-- partition memory_commits_default_p01 for values with (modulus 32, remainder 1)
create table "public"."memory_commits_default_p01" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 1);

-- partition memory_commits_default_p02 for values with (modulus 32, remainder 2)
create table "public"."memory_commits_default_p02" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 2);

-- partition memory_commits_default_p03 for values with (modulus 32, remainder 3)
create table "public"."memory_commits_default_p03" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 3);

-- partition memory_commits_default_p04 for values with (modulus 32, remainder 4)
create table "public"."memory_commits_default_p04" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 4);

-- partition memory_commits_default_p05 for values with (modulus 32, remainder 5)
create table "public"."memory_commits_default_p05" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 5);

-- partition memory_commits_default_p06 for values with (modulus 32, remainder 6)
create table "public"."memory_commits_default_p06" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 6);

-- partition memory_commits_default_p07 for values with (modulus 32, remainder 7)
create table "public"."memory_commits_default_p07" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 7);

-- partition memory_commits_default_p08 for values with (modulus 32, remainder 8)
create table "public"."memory_commits_default_p08" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 8);

-- partition memory_commits_default_p09 for values with (modulus 32, remainder 9)
create table "public"."memory_commits_default_p09" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 9);

-- partition memory_commits_default_p10 for values with (modulus 32, remainder 10)
create table "public"."memory_commits_default_p10" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 10);

-- partition memory_commits_default_p11 for values with (modulus 32, remainder 11)
create table "public"."memory_commits_default_p11" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 11);

-- partition memory_commits_default_p12 for values with (modulus 32, remainder 12)
create table "public"."memory_commits_default_p12" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 12);

-- partition memory_commits_default_p13 for values with (modulus 32, remainder 13)
create table "public"."memory_commits_default_p13" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 13);

-- partition memory_commits_default_p14 for values with (modulus 32, remainder 14)
create table "public"."memory_commits_default_p14" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 14);

-- partition memory_commits_default_p15 for values with (modulus 32, remainder 15)
create table "public"."memory_commits_default_p15" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 15);

-- partition memory_commits_default_p16 for values with (modulus 32, remainder 16)
create table "public"."memory_commits_default_p16" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 16);

-- partition memory_commits_default_p17 for values with (modulus 32, remainder 17)
create table "public"."memory_commits_default_p17" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 17);

-- partition memory_commits_default_p18 for values with (modulus 32, remainder 18)
create table "public"."memory_commits_default_p18" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 18);

-- partition memory_commits_default_p19 for values with (modulus 32, remainder 19)
create table "public"."memory_commits_default_p19" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 19);

-- partition memory_commits_default_p20 for values with (modulus 32, remainder 20)
create table "public"."memory_commits_default_p20" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 20);

-- partition memory_commits_default_p21 for values with (modulus 32, remainder 21)
create table "public"."memory_commits_default_p21" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 21);

-- partition memory_commits_default_p22 for values with (modulus 32, remainder 22)
create table "public"."memory_commits_default_p22" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 22);

-- partition memory_commits_default_p23 for values with (modulus 32, remainder 23)
create table "public"."memory_commits_default_p23" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 23);

-- partition memory_commits_default_p24 for values with (modulus 32, remainder 24)
create table "public"."memory_commits_default_p24" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 24);

-- partition memory_commits_default_p25 for values with (modulus 32, remainder 25)
create table "public"."memory_commits_default_p25" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 25);

-- partition memory_commits_default_p26 for values with (modulus 32, remainder 26)
create table "public"."memory_commits_default_p26" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 26);

-- partition memory_commits_default_p27 for values with (modulus 32, remainder 27)
create table "public"."memory_commits_default_p27" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 27);

-- partition memory_commits_default_p28 for values with (modulus 32, remainder 28)
create table "public"."memory_commits_default_p28" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 28);

-- partition memory_commits_default_p29 for values with (modulus 32, remainder 29)
create table "public"."memory_commits_default_p29" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 29);

-- partition memory_commits_default_p30 for values with (modulus 32, remainder 30)
create table "public"."memory_commits_default_p30" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 30);

-- partition memory_commits_default_p31 for values with (modulus 32, remainder 31)
create table "public"."memory_commits_default_p31" partition of "public"."memory_commits_default" for values with (modulus 32, remainder 31);

-- index memory_commits_scope_created_idx_shadow (copy of memory_commits_scope_created_idx) on the parent and every partition
create index "memory_commits_scope_created_idx_shadow" on "public"."memory_commits_shadow" using btree (scope_key, created_at DESC);

-- index memory_commits_id_idx on (id): lookups by the legacy key alone probe it in each partition
create index "memory_commits_id_idx" on "public"."memory_commits_shadow" ("id");
