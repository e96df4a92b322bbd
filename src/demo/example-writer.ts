import { sql } from 'kysely';
import { openDatabase } from '../db/open-database.js';

export interface ExampleWriter {
  /** Holds the writer between statements (resolves once it is idle) until resume(). */
  pause(): Promise<void>;
  resume(): void;
  /** Stops writing and returns how many inserts, updates and deletes it made. */
  stop(): Promise<{ inserts: number; updates: number; deletes: number }>;
}

/**
 * The application, simulated: keeps inserting, updating (also moving rows to
 * another scope) and deleting memory_nodes rows until stopped, so the demo's
 * backfill runs against live writes.
 */
export function startExampleWriter(url: string): ExampleWriter {
  const conn = openDatabase({ url, maxConnections: 1, applicationName: 'partgov demo writer' });
  const counts = { inserts: 0, updates: 0, deletes: 0 };
  let running = true;
  let paused: Promise<void> | null = null;
  let release: () => void = () => undefined;
  let idle: () => void = () => undefined;
  const loop = (async () => {
    for (let i = 1; running; i++) {
      if (paused) {
        idle();
        await paused;
      }
      const op = i % 4;
      if (op === 0) {
        await sql`insert into memory_nodes (tenant_id, scope, scope_key, kind, body)
                  values ('tenant_1', 'scope_1', 'tenant_1:scope_1', 'fact', ${`written during backfill ${i}`})`.execute(conn.db);
        counts.inserts++;
      } else if (op === 3) {
        const r = await sql`delete from memory_nodes where id = (select id from memory_nodes where scope <> 'perf' order by id desc offset ${i % 500} limit 1)`.execute(conn.db);
        counts.deletes += Number(r.numAffectedRows ?? 0);
      } else {
        const moved = op === 2 ? sql`, scope_key = tenant_id || ':moved'` : sql``;
        const r = await sql`update memory_nodes set body = ${`updated ${i}`}, updated_at = now() ${moved} where id = ${1 + ((i * 7919) % 50_000)}`.execute(conn.db);
        counts.updates += Number(r.numAffectedRows ?? 0);
      }
    }
  })();
  return {
    pause: () =>
      new Promise<void>((resolve) => {
        idle = resolve;
        paused = new Promise<void>((r) => (release = r));
      }),
    resume: () => {
      paused = null;
      release();
    },
    stop: async () => {
      running = false;
      paused = null;
      release();
      await loop;
      await conn.close();
      return counts;
    },
  };
}
