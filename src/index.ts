/** partgov's library API: every CLI command is one of these functions. */
export * from './errors.js';
export * from './config/config-schema.js';
export { loadConfig, parseConfig, selectTables } from './config/load-config.js';
export * from './config/runtime-settings.js';
export * from './config/app-env-rules.js';
export { openDatabase, type PartgovDatabase, type OpenDatabaseOptions } from './db/open-database.js';
export { runGuarded, type GuardOptions, type GuardRetryEvent } from './db/run-guarded.js';
export { withAdvisoryLock } from './db/advisory-lock.js';
export * from './db/catalog.js';
export { startEmbeddedServer, type EmbeddedServer } from './embedded/embedded-server.js';
export { redactDatabaseUrl, describeDatabaseUrl } from './db/database-url.js';
export { runMigrate, type MigrateResult, type MigrateOptions } from './migrate/run-migrate.js';
export { runPreflight, type PreflightResult, type PreflightCheck } from './preflight/run-preflight.js';
export { runInit } from './init/run-init.js';
export { runDemo } from './demo/run-demo.js';
