import { z } from 'zod';

/**
 * The partgov.config.json schema. Field names are snake_case, like every JSON
 * partgov reads or writes. Objects are strict: an unknown key is an error,
 * because a misspelt safety setting silently ignored is worse than a refusal.
 */

const identifier = z
  .string()
  .min(1, 'must not be empty')
  .refine((s) => Buffer.byteLength(s, 'utf8') <= 63, 'is longer than 63 bytes, the PostgreSQL identifier limit')
  .refine((s) => !s.includes('\0'), 'must not contain a NUL byte');

const hashLayout = z
  .object({
    type: z.literal('hash'),
    key: identifier.describe('column the table is hash-partitioned by, e.g. scope_key'),
    partitions: z.number().int().min(2).max(1024).default(32).describe('hash partitions (modulus)'),
  })
  .strict();

const isolatableLayout = z
  .object({
    type: z.literal('isolatable'),
    key: identifier.describe('scope key column: LIST partitioned, DEFAULT partition hashed'),
    isolated: z.array(z.string().min(1)).default([]).describe('scope key values that get a dedicated partition'),
    partitions: z.number().int().min(2).max(1024).default(32).describe('hash partitions of the DEFAULT partition'),
  })
  .strict();

const subpartition = z.discriminatedUnion('type', [
  z.object({ type: z.literal('hash'), key: identifier.describe('column each range partition is hashed by'), partitions: z.number().int().min(2).max(1024).describe('hash partitions per range partition') }).strict(),
  z.object({ type: z.literal('list'), key: identifier.describe('column each range partition is listed by, e.g. scope_key'), values: z.array(z.string().min(1)).min(1).describe('values that get their own leaf in every range partition (the rest go to its DEFAULT): e.g. a scope purged by TRUNCATE') }).strict(),
]);

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date like 2026-01-01');

const rangeLayout = z
  .object({
    type: z.literal('range'),
    column: identifier.describe('timestamp or date column the table is range-partitioned by'),
    interval: z.enum(['day', 'week', 'month']).describe('one partition per interval (UTC; weeks start on Monday)'),
    premake: z.number().int().min(0).max(366).default(3).describe('partitions created ahead of now'),
    start: isoDate.optional().describe('first partition start; default: the legacy minimum of the column'),
    default_partition: z.boolean().default(false).describe('a DEFAULT partition for rows outside every range (maintain moves them to their partition)'),
    retention: z
      .object({
        keep: z.number().int().min(1).describe('intervals kept before the current one; older partitions are detached by maintain'),
        action: z.enum(['archive', 'drop']).default('archive').describe('detached partitions are kept as standalone tables (archive) or dropped'),
      })
      .strict()
      .optional(),
    subpartition: subpartition.optional(),
  })
  .strict();

export const layoutSchema = z.discriminatedUnion('type', [hashLayout, isolatableLayout, rangeLayout]);

const readQuery = z
  .object({
    name: z.string().min(1).describe('name shown in shadow-read and bench'),
    sql: z.string().min(1).describe('read query over {{table}}; $1 is the scope key value'),
  })
  .strict();

export const tableConfigSchema = z
  .object({
    name: identifier.describe('legacy table name, exactly as in the catalog (case-sensitive)'),
    schema: identifier.default('public').describe('schema of the table'),
    layout: layoutSchema,
    tenant_column: identifier.optional().describe('column holding the tenant id (purge, isolate, restore and bench find and check the scope\'s rows by it and scope_column); leave both out when the scope key column is formed from {tenant} and {scope} with a separator'),
    scope_column: identifier.optional().describe('column holding the scope (with tenant_column)'),
    scope_key_column: identifier
      .optional()
      .describe('column whose value identifies a (tenant, scope) pair; default: the layout key (hash, isolatable) or the range sub-partition key'),
    scope_key_format: z
      .string()
      .min(1)
      .optional()
      .describe('how the scope key is formed from {tenant} and {scope}; default: purge.scope_key_format'),
    scope_key_source: z
      .enum(['format', 'rows'])
      .optional()
      .describe('where a scope\'s key value comes from: "format" (default: formed by scope_key_format) or "rows" (the key is an id of its own, e.g. a workspace uuid: read from the scope\'s rows by tenant_column and scope_column, which an index on them keeps short)'),
    activity_column: identifier
      .optional()
      .describe('timestamp column that records a write (e.g. updated_at): in prod, purge refuses a scope written within purge.active_window_minutes'),
    allow_drop: z
      .array(identifier)
      .default([])
      .describe('constraint or index names plan may leave off the shadow when they cannot be kept (UNIQUE without the key, EXCLUDE, FK to a partitioned table)'),
    key_lookup_index: z
      .boolean()
      .default(true)
      .describe('when plan widens the primary key by the partition key, a plain index on the legacy key columns, so the application\'s lookups by them (WHERE id = $1) stay an index probe per partition instead of a scan of every partition; false leaves it off (one index less to write)'),
    read_queries: z.array(readQuery).default([]),
    cutover: z
      .object({
        archive_name: identifier.optional().describe('name the legacy table takes at cutover and keeps until retire (default <table>_legacy); at most 63 bytes'),
        acknowledge_key_change: z
          .array(identifier)
          .optional()
          .describe('the shadow primary key, e.g. ["scope_key", "id"], when plan widened the legacy one: acknowledges that the application\'s ON CONFLICT (<old key>) stops working after cutover'),
        retire_after_days: z.number().min(0).default(7).describe('in prod, retire is refused until this many days after cutover'),
      })
      .strict()
      .default({ retire_after_days: 7 }),
  })
  .strict();

const timeoutMs = z.number().int().min(1).max(86_400_000);

export const configSchema = z
  .object({
    $schema: z.string().optional(),
    tables: z.array(tableConfigSchema).min(1, 'must list at least one table'),
    migrations_dir: z.string().min(1).default('partgov/migrations').describe('where plan --out writes DDL migrations'),
    project: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,29}$/, { message: 'must be 1-30 lower-case letters, digits or _, starting with a letter' })
      .optional()
      .describe('names this config\'s plan migration history (partgov.plan_migration_<project>), so several configs, each with its own migrations_dir, can share one database'),
    lock_timeout_ms: timeoutMs.optional().describe('lock_timeout of every DDL or destructive step (flag --lock-timeout, env PARTGOV_LOCK_TIMEOUT_MS); required in prod'),
    statement_timeout_ms: timeoutMs.optional().describe('statement_timeout of every step; required in prod'),
    lock_retries: z.number().int().min(0).max(50).default(5).describe('retries, with jittered backoff, after a lock timeout, deadlock or serialization failure'),
    evidence_dir: z.string().min(1).default('artifacts/partgov').describe('where gate (gate/) and bench (bench/) write their evidence by default'),
    purge: z
      .object({
        default_mode: z.enum(['partition', 'auto', 'delete']).default('partition').describe('purge mode when --mode is not given; prod requires partition'),
        scope_key_format: z
          .string()
          .min(1)
          .default('{tenant}:{scope}')
          .describe('how a scope key value is formed from {tenant} and {scope} when the key column is neither the tenant nor the scope column'),
        active_window_minutes: z.number().min(0).default(15).describe('in prod, purge refuses a scope written within this many minutes (tables[].activity_column)'),
        batch_rows: z.number().int().min(1).max(1_000_000).default(5000).describe('rows per DELETE batch of auto/delete mode'),
        swap_min_mb: z
          .number()
          .min(0)
          .default(16)
          .describe("a dedicated partition at least this big is emptied by swapping in an empty twin (exclusive lock: catalog changes only, whatever its size) instead of TRUNCATE (whose lock lasts while COMMIT unlinks the files); 0 = always swap"),
      })
      .strict()
      .default({ default_mode: 'partition', scope_key_format: '{tenant}:{scope}', active_window_minutes: 15, batch_rows: 5000, swap_min_mb: 16 }),
    isolate: z
      .object({
        copy_leaf_min_mb: z
          .number()
          .min(0)
          .default(16)
          .describe("a new scope keyed by a type without a collation (uuid, integers, dates) whose DEFAULT leaf is at least this big is isolated by copying that leaf online and switching without a scan (~7 ms locked here, whatever the size); below it, or for a text key, the leaf is scanned under the exclusive lock (~2 ms + 0.4 ms per MB here); 0 = always copy"),
      })
      .strict()
      .default({ copy_leaf_min_mb: 16 }),
    maintain: z
      .object({
        max_locked_move_rows: z
          .number()
          .int()
          .min(0)
          .default(20_000)
          .describe("most rows of one range maintain moves out of a DEFAULT into a new partition: the move holds the table's exclusive lock (50,000 rows: 0.73 s here, ~15 µs a row), so more waits for --max-locked-move-rows in a quiet moment"),
      })
      .strict()
      .default({ max_locked_move_rows: 20_000 }),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.tables.forEach((t, i) => {
      const key = `${t.schema}.${t.name}`;
      const first = seen.get(key);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['tables', i, 'name'],
          message: `duplicate table ${key} (also tables[${first}])`,
          params: { fix: `list ${key} once; merge the two entries` },
        });
      } else seen.set(key, i);
      const sub = t.layout.type === 'range' ? t.layout.subpartition : undefined;
      if (t.layout.type === 'isolatable' && new Set(t.layout.isolated).size !== t.layout.isolated.length) {
        ctx.addIssue({
          code: 'custom',
          path: ['tables', i, 'layout', 'isolated'],
          message: 'lists the same scope key twice',
          params: { fix: 'list each isolated scope key once' },
        });
      }
      if (t.scope_key_source === 'rows' && (!t.tenant_column || !t.scope_column)) {
        ctx.addIssue({
          code: 'custom',
          path: ['tables', i, 'scope_key_source'],
          message: 'is "rows", which reads a scope\'s key from its rows by tenant_column and scope_column, and the table does not name both',
          params: { fix: 'set tables[].tenant_column and tables[].scope_column, or leave scope_key_source out (the key is then formed by scope_key_format)' },
        });
      }
      if (sub && sub.key === (t.layout as { column: string }).column) {
        ctx.addIssue({
          code: 'custom',
          path: ['tables', i, 'layout', 'subpartition', 'key'],
          message: 'sub-partitions by the same column as the range',
          params: { fix: 'sub-partition by the scope key, e.g. "scope_key"' },
        });
      }
    });
  });

export type PartgovConfig = z.output<typeof configSchema>;
export type PartgovConfigInput = z.input<typeof configSchema>;
export type TableConfig = z.output<typeof tableConfigSchema>;
export type Layout = z.output<typeof layoutSchema>;

/** Partition key columns of a layout, outermost first (the shadow's primary key and every unique key hold them). */
export function partitionKeyColumns(layout: Layout): string[] {
  if (layout.type === 'range') return [layout.column, ...(layout.subpartition ? [layout.subpartition.key] : [])];
  return [layout.key];
}
export type HashLayout = z.output<typeof hashLayout>;
export type IsolatableLayout = z.output<typeof isolatableLayout>;
export type RangeLayout = z.output<typeof rangeLayout>;

/** The JSON Schema of the config file (shipped as schema/partgov.config.schema.json). */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
