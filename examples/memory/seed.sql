-- memory_seed(nodes, scopes, perf_share): a server-side generator for the
-- example schema. Scopes follow a Zipf-like skew (a few big, a long tail), and
-- one large 'perf:perf' scope gets perf_share of all nodes: the dedicated
-- tenant/scope benchmarks and resets use. Deterministic for a given setseed.
create or replace function memory_seed(p_nodes bigint, p_scopes integer default 200, p_perf_share double precision default 0.1)
returns table (nodes bigint, edges bigint, commits bigint, outbox bigint)
language plpgsql as $$
declare
  v_perf bigint := floor(p_nodes * p_perf_share);
  v_first bigint;
begin
  perform setseed(0.42);
  select coalesce(max(id), 0) + 1 into v_first from memory_nodes;

  -- Zipf-like: scope index = floor(scopes ^ u) - 1 for uniform u puts ~1/k of rows in scope k.
  insert into memory_nodes (tenant_id, scope, scope_key, kind, title, body, payload, tags, embedding_ref, importance, created_at, updated_at)
  select s.tenant_id, s.scope, s.tenant_id || ':' || s.scope,
         (array['fact', 'episode', 'summary', 'entity'])[1 + (s.g % 4)],
         case when s.g % 3 = 0 then null else 'node ' || s.g end,
         repeat(md5(s.g::text), (2 + s.g % 3)::int),
         jsonb_build_object('source', (array['chat', 'doc', 'tool'])[1 + (s.g % 3)], 'seq', s.g, 'score', round((s.g % 97) / 97.0, 3)),
         array['t' || (s.g % 5), 't' || (s.g % 11)],
         case when s.g % 4 = 0 then null else md5('e' || s.g)::uuid end,
         case when s.g % 5 = 0 then null else ((s.g % 100) / 100.0)::real end,
         now() - make_interval(mins => (s.g % 172800)::int),
         now() - make_interval(mins => (s.g % 1440)::int)
  from (
    -- random() in the select list is evaluated per row (a lateral subquery without a
    -- reference to g would be evaluated once and put every row in one scope).
    select g, case when g <= v_perf then 'perf' else 'tenant_' || (k % 37) end as tenant_id,
              case when g <= v_perf then 'perf' else 'scope_' || k end as scope
    from (select g, (floor(power(p_scopes::double precision, random())) - 1)::int as k
          from generate_series(1, p_nodes) g) z
  ) s;

  -- Each node links to the previous node of its own scope.
  insert into memory_edges (tenant_id, scope, scope_key, src_node_id, dst_node_id, relation, weight, created_at)
  select tenant_id, scope, scope_key, id, prev_id,
         (array['mentions', 'follows', 'summarises'])[1 + (id % 3)::int], (id % 10) / 10.0, created_at
  from (select n.*, lag(n.id) over (partition by n.scope_key order by n.id) as prev_id
        from memory_nodes n where n.id >= v_first) w
  where prev_id is not null;

  insert into memory_commits (tenant_id, scope, scope_key, commit_hash, parent_hash, author, message, diff, created_at)
  select tenant_id, scope, scope_key, md5('c' || id), md5('c' || (id - 20)), 'agent-' || (id % 7),
         'commit ' || id, jsonb_build_object('added', id % 13, 'removed', id % 5), created_at
  from memory_nodes where id >= v_first and id % 20 = 0;

  -- Outbox events spread over the last ~120 days (the range layout's monthly partitions).
  insert into memory_outbox (tenant_id, scope, scope_key, event_type, payload, attempts, created_at, published_at)
  select tenant_id, scope, scope_key, (array['node.created', 'node.updated', 'edge.created'])[1 + (id % 3)::int],
         jsonb_build_object('node_id', id), (id % 3)::int,
         now() - make_interval(hours => (id % 2880)::int),
         case when id % 10 = 0 then null else now() end
  from memory_nodes where id >= v_first and id % 5 = 0;

  return query select (select count(*) from memory_nodes), (select count(*) from memory_edges),
                      (select count(*) from memory_commits), (select count(*) from memory_outbox);
end
$$;
