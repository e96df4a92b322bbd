import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runBench, type BenchResult } from '../bench/run-bench.js';
import { parseConfig } from '../config/load-config.js';
import { resolveSettings } from '../config/runtime-settings.js';
import { openDatabase } from '../db/open-database.js';
import { loadMemoryExample } from '../demo/run-demo.js';
import { startEmbeddedServer } from '../embedded/embedded-server.js';
import { runMigrate } from '../migrate/run-migrate.js';
import { stageContext } from '../stage/stage-context.js';
import { packagePath } from '../package-root.js';
import { benchServerSettings } from './bench-server-settings.js';

/**
 * `npm run bench:perf`: `partgov bench` on the example schema (memory_nodes,
 * its configured read query) in a throwaway embedded server: recall and write
 * latency of the partitioned layout and the legacy one at each scale, with the
 * partition-first reset between scales.
 */
export async function benchmarkPerfMatrix(o: { nodes: number; scales: number[]; major: 15 | 18; log: (l: string) => void }): Promise<{ server: string; result: BenchResult; out_dir: string }> {
  const server = await startEmbeddedServer({ major: o.major, settings: benchServerSettings });
  try {
    const { url, version } = await server.createDatabase('bench');
    o.log(`bench: loading the example schema with ${o.nodes} nodes into PostgreSQL ${version}`);
    await loadMemoryExample(url, o.nodes);
    const conn = openDatabase({ url, maxConnections: 12 });
    try {
      const config = parseConfig(JSON.parse(await readFile(packagePath('examples', 'memory', 'partgov.config.json'), 'utf8')));
      const stage = stageContext(conn, { settings: resolveSettings({ lockTimeout: '5000' }, {}, config), config, log: o.log });
      await runMigrate(stage, { action: 'up' });
      const outDir = await mkdtemp(path.join(os.tmpdir(), 'partgov-bench-perf-'));
      const result = await runBench(stage, { scales: o.scales, out: outDir });
      return { server: `PostgreSQL ${version}`, result, out_dir: outDir };
    } finally {
      await conn.close();
    }
  } finally {
    await server.stop();
  }
}
