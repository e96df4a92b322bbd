/**
 * partgov's library API: every CLI command is one of these functions, and a
 * library user can run the whole pipeline without the CLI
 * (test/e2e/library-entry.test.ts does exactly that through this entry).
 */
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
export { verdict, strictly, type Check, type CheckStatus, type Verdict } from './checks/check.js';
export { renderSteps, type Step, type StepReport } from './steps/run-steps.js';
export { latestRun, recordRun, type RunRecord } from './state/run-ledger.js';
// Every stage is run<Stage>(ctx, input): one StageContext (database, settings, config, log,
// progress, retries, clock) and the stage's input, validated by its zod schema (exported too).
export { stageContext, derivedContext, type StageContext, type StageContextParts, type StageProgress } from './stage/stage-context.js';
export { parseStageInput, flagOf } from './stage/stage-input.js';
export { runMigrate, migrateInputSchema, type MigrateInput, type MigrateResult } from './migrate/run-migrate.js';
export { runPreflight, preflightInputSchema, type PreflightInput, type PreflightResult, type PreflightCheck } from './preflight/run-preflight.js';
export { runInit } from './init/run-init.js';
export { runPlan, planInputSchema, renderPlanSql, type PlanInput, type PlanResult } from './plan/run-plan.js';
export { runSync, syncInputSchema, type SyncInput, type SyncResult, type SyncAction } from './sync/run-sync.js';
export { replayChanges, type ReplayResult, type ReplayOptions } from './changelog/replay-changes.js';
export { runBackfill, backfillInputSchema, type BackfillInput, type BackfillResult, type BackfillProgress } from './backfill/run-backfill.js';
export { runVerify, verifyInputSchema, type VerifyInput, type VerifyResult, type TableVerdict } from './verify/run-verify.js';
export { runShadowRead, shadowReadInputSchema, type ShadowReadInput, type ShadowReadResult } from './shadow-read/run-shadow-read.js';
export { runCutover, runRollback, runRetire, swapInputSchema, retireInputSchema, type SwapInput, type SwapResult, type RetireInput, type RetireResult } from './cutover/run-cutover.js';
export { runStatus, statusInputSchema, type StatusInput, type TableStatus } from './status/run-status.js';
export { runDemo } from './demo/run-demo.js';
export { runPurge, purgeInputSchema, type PurgeInput, type PurgeResult, type PurgeTableResult, type PurgeMode } from './purge/run-purge.js';
export { runRestore, restoreInputSchema, type RestoreInput, type RestoreResult } from './purge/run-restore.js';
export { type ArchiveManifest, type ArchivedTable } from './purge/scope-archive.js';
export { parseScopeTarget, type ScopeTarget } from './db/scope-target.js';
export { runIsolate, isolateInputSchema, type IsolateInput, type IsolateResult, type IsolateTableResult } from './maintain/isolate-scope.js';
export { runMaintain, maintainInputSchema, type MaintainInput, type MaintainResult, type MaintainTableResult } from './maintain/run-maintain.js';
export { runBench, benchInputSchema, type BenchInput, type BenchResult, type LatencyFigures } from './bench/run-bench.js';
export { runGate, gateInputSchema, type GateInput, type GateResult, type GateSummary } from './gate/run-gate.js';
export { checkEvidence, type EvidenceCheck } from './gate/evidence-bundle.js';
export { parseGateEnv, type GateEnv } from './config/gate-env.js';
