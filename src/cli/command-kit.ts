import type { Command } from 'commander';
import type { z } from 'zod';
import { helpOf } from '../stage/stage-input.js';
import type { GlobalOptions } from './run-command.js';

/** What a command file gets to register itself. */
export interface CommandKit {
  program: Command;
}

type Handler = (globals: GlobalOptions, opts: Record<string, unknown>, args: string[]) => Promise<number>;

let onExit: (code: number) => void = () => undefined;

/** Where every command's exit code goes (main sets it; tests of buildProgram may too). */
export function setExitHandler(handler: (code: number) => void): void {
  onExit = handler;
}

/** Each command's example, by command name: --help shows it, and the README's CLI reference is generated from it. */
export const commandExamples = new Map<string, string>();

/** Adds an `Example:` section to a command's --help. */
export function example(cmd: Command, text: string): Command {
  commandExamples.set(cmd.name(), text);
  return cmd.addHelpText('after', `\nExample:\n  ${text}\n`);
}

/** Wraps a command body: global and command options in, exit code out. */
export const action = (handler: Handler) =>
  async function (this: Command, ...rest: unknown[]) {
    const globals = this.optsWithGlobals<GlobalOptions>();
    const args = rest.slice(0, -2).filter((a): a is string => typeof a === 'string');
    onExit(await handler(globals, this.opts(), args));
  };

/** The three guard flags of every command that targets one tenant's scope (purge, isolate). */
export function scopeTargetOptions(cmd: Command, schema: z.ZodObject): Command {
  return inputOptions(cmd, schema, '--tenant-id <id>', '--scope <scope>', '--confirm <tenant/scope>');
}

/** `--max-diff-keys <n>` → `maxDiffKeys`: the stage input field a flag sets. */
const fieldOf = (spec: string) => spec.split(/\s+/)[0]!.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * Flags for a stage's input fields: help text and default come from the
 * stage's zod schema, so they are written once. The action passes commander's
 * option object to the stage as it is; the stage validates and converts.
 */
export function inputOptions(cmd: Command, schema: z.ZodObject, ...specs: string[]): Command {
  for (const spec of specs) cmd.option(spec, helpOf(schema, fieldOf(spec)));
  return cmd;
}
