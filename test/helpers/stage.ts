import type { PartgovConfig } from '../../src/config/config-schema.js';
import { resolveSettings, type RuntimeSettings } from '../../src/config/runtime-settings.js';
import type { PartgovDatabase } from '../../src/db/open-database.js';
import { stageContext, type StageContext, type StageContextParts } from '../../src/stage/stage-context.js';

/**
 * A stage context for a test: the database it opened, its config, and
 * settings resolved as the CLI would (lock_timeout 5 s unless given).
 */
export function stageFor(
  database: PartgovDatabase,
  config?: PartgovConfig,
  o: { lockTimeoutMs?: number; settings?: RuntimeSettings; now?: Date } & Omit<StageContextParts, 'settings' | 'config' | 'now'> = {},
): StageContext {
  const { lockTimeoutMs, settings, now, ...parts } = o;
  return stageContext(database, {
    ...parts,
    settings: settings ?? resolveSettings({ lockTimeout: String(lockTimeoutMs ?? 5000) }, {}, config),
    config,
    ...(now ? { now: () => now } : {}),
  });
}
