import type { Command, Option } from 'commander';
import { commandExamples } from './command-kit.js';

const flagsOf = (options: readonly Option[]) => options.map((o) => o.long).filter((x): x is string => x !== undefined);

/**
 * The README's CLI reference, generated from the commander program itself
 * (descriptions, flags and each command's --help example), so it cannot drift.
 */
export function cliReference(program: Command): string {
  const lines = ['| command | what it does | example |', '|---|---|---|'];
  for (const cmd of program.commands) {
    const args = cmd.registeredArguments.map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`)).join(' ');
    const name = `partgov ${cmd.name()}${args ? ` ${args}` : ''}`;
    const example = commandExamples.get(cmd.name()) ?? '';
    lines.push(`| \`${name}\` | ${cmd.description().replace(/\|/g, '\\|')} | \`${example.replace(/\|/g, '\\|')}\` |`);
  }
  lines.push('', `Global options: ${flagsOf(program.options).map((f) => `\`${f}\``).join(', ')}. Every command: \`--help\`.`);
  return lines.join('\n');
}

/** Global options that take a value (skipped when looking for the command word). */
const valuedGlobals = new Set(['--config', '--database-url', '--lock-timeout', '--statement-timeout', '--app-env']);

/**
 * Every `partgov …` invocation inside code (fenced blocks and inline code) of
 * a Markdown text, checked against the program: the command must exist and
 * every `--flag` must be one of its options or a global one. Returns the
 * problems, one line each ("line N: …").
 */
export function checkCliMentions(markdown: string, program: Command): string[] {
  const problems: string[] = [];
  const globals = new Set([...flagsOf(program.options), '--help', '--version']);
  const code: { line: number; text: string }[] = [];
  let fenced = false;
  markdown.split('\n').forEach((text, i) => {
    if (/^\s*```/.test(text)) {
      fenced = !fenced;
      return;
    }
    if (fenced) code.push({ line: i + 1, text });
    else for (const m of text.matchAll(/`([^`]+)`/g)) code.push({ line: i + 1, text: m[1]! });
  });
  for (const { line, text } of code) {
    for (const m of text.matchAll(/(?:^|[\s(;&|$])partgov((?:\s+[^\s#;&|>`)]+)*)/g)) {
      const tokens = m[1]!.trim().split(/\s+/).filter(Boolean);
      let i = 0;
      while (i < tokens.length && tokens[i]!.startsWith('--')) i += valuedGlobals.has(tokens[i]!.split('=')[0]!) && !tokens[i]!.includes('=') ? 2 : 1;
      const name = tokens[i];
      if (name === undefined || name.startsWith('<') || name.startsWith('-')) continue;
      const cmd = program.commands.find((c) => c.name() === name || c.aliases().includes(name));
      if (!cmd) {
        problems.push(`line ${line}: \`partgov ${name}\` is not a command (commands: ${program.commands.map((c) => c.name()).join(', ')})`);
        continue;
      }
      const known = new Set([...globals, ...flagsOf(cmd.options)]);
      for (const t of tokens.filter((x) => x.startsWith('--'))) {
        const flag = t.split('=')[0]!;
        if (!known.has(flag)) problems.push(`line ${line}: \`partgov ${name}\` has no option ${flag}`);
      }
    }
  }
  return problems;
}
