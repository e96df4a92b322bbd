import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { packagePath } from '../package-root.js';
import { setExitHandler } from './command-kit.js';
import { registerInit } from './commands/init.js';
import { registerPreflight } from './commands/preflight.js';
import { registerMigrate } from './commands/migrate.js';
import { registerPlan } from './commands/plan.js';
import { registerSync } from './commands/sync.js';
import { registerBackfill } from './commands/backfill.js';
import { registerVerify } from './commands/verify.js';
import { registerShadowRead } from './commands/shadow-read.js';
import { registerCutoverRollback } from './commands/cutover-rollback.js';
import { registerRetire } from './commands/retire.js';
import { registerIsolate } from './commands/isolate.js';
import { registerMaintain } from './commands/maintain.js';
import { registerGate } from './commands/gate.js';
import { registerPurge } from './commands/purge.js';
import { registerStatus } from './commands/status.js';
import { registerDemo } from './commands/demo.js';

/** Builds the commander program: one file per command under commands/ (flags, one library call, a renderer). */
export function buildProgram(onExit: (code: number) => void): Command {
  setExitHandler(onExit);
  const program = new Command('partgov')
    .description('Govern partitioned PostgreSQL tables safely: plan, backfill, verify, cut over, purge, gate.')
    .option('--config <file>', 'config file', undefined)
    .option('--database-url <url>', 'PostgreSQL URL (default: env DATABASE_URL)')
    .option('--json', 'print one JSON document on stdout; logs go to stderr')
    .option('--lock-timeout <ms>', 'lock_timeout for every DDL or destructive step')
    .option('--statement-timeout <ms>', 'statement_timeout for every step')
    .addOption(new Option('--app-env <env>', 'dev|ci|prod (default: env APP_ENV, else dev)'))
    .option('--verbose', 'print stack traces on errors')
    .version((JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version, '-V, --version', "print partgov's version")
    .showHelpAfterError()
    .exitOverride();

  registerInit(program);
  registerPreflight(program);
  registerMigrate(program);
  registerPlan(program);
  registerSync(program);
  registerBackfill(program);
  registerVerify(program);
  registerShadowRead(program);
  registerCutoverRollback(program);
  registerRetire(program);
  registerMaintain(program);
  registerIsolate(program);
  registerPurge(program);
  registerStatus(program);
  registerGate(program);
  registerDemo(program);
  return program;
}

/** The CLI entry: parses argv and exits with the contract's exit code. */
export async function main(argv: string[]): Promise<void> {
  let code: number | undefined;
  const program = buildProgram((c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    // commander's own help/version output exits 0; its usage errors are bad input (exit 2).
    code = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : 2;
  }
  process.exit(code ?? 0);
}
