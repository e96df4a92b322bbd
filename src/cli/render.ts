import type { MigrateResult } from '../migrate/run-migrate.js';

const mark: Record<string, string> = { pass: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

/** One line per check, failures with their fix, then a count. */
export function renderChecks(title: string, checks: readonly { name: string; status: string; detail: string; fix?: string }[]): string {
  const lines = checks.map((c) => `${mark[c.status] ?? c.status} ${c.name}: ${c.detail}${c.fix && c.status !== 'pass' && c.status !== 'skip' ? `\n       fix: ${c.fix}` : ''}`);
  const failed = checks.filter((c) => c.status === 'fail').length;
  const warned = checks.filter((c) => c.status === 'warn').length;
  lines.push(`${title}: ${failed === 0 ? 'passed' : 'FAILED'} (${checks.length} checks, ${failed} failed, ${warned} warnings)`);
  return lines.join('\n');
}

export function renderMigrate(r: MigrateResult): string {
  if (r.action === 'status') {
    return r.migrations.map((m) => `${m.executed_at ? 'applied' : 'pending'} ${m.set}/${m.name}${m.executed_at ? ` at ${m.executed_at}` : ''}`).join('\n') || 'no migrations';
  }
  if (r.dry_run) {
    if (r.planned.length === 0) return `-- migrate ${r.action} --dry-run: nothing to do`;
    return r.planned.map((m) => `-- ${m.direction} ${m.set}/${m.name} (dry run: not applied)\n${m.sql.trimEnd()}\n`).join('\n');
  }
  if (r.applied.length === 0) return `migrate ${r.action}: nothing to do (${r.pending} pending)`;
  return r.applied.map((s) => `${s.direction} ${s.set}/${s.name}: ${s.status}`).join('\n');
}
