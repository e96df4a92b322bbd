// Reads vitest JSON reports and decides the CI verdict independently of exit
// codes: fails when a report is missing, any test failed, or no test ran.
// Usage: node scripts/test-summary.js <label>=<report.json> ...
// Prints one line `N passed, N failed (<label>)` per report, last.
import { existsSync, readFileSync } from 'node:fs';

let ok = true;
const lines = [];
for (const arg of process.argv.slice(2)) {
  const eq = arg.indexOf('=');
  const label = arg.slice(0, eq);
  const file = arg.slice(eq + 1);
  if (!existsSync(file)) {
    ok = false;
    lines.push(`0 passed, 0 failed (${label}: no report at ${file}; the run did not finish)`);
    continue;
  }
  const r = JSON.parse(readFileSync(file, 'utf8'));
  const passed = r.numPassedTests ?? 0;
  // A file that failed without a failed test (an import or syntax error) counts as one failure too.
  const brokenFiles = (r.testResults ?? []).filter((f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed')).length;
  const failed = (r.numFailedTests ?? 0) + brokenFiles;
  const problems = [];
  if (failed > 0) problems.push('failures');
  if (r.numTotalTests === 0 || passed === 0) problems.push('no test ran');
  if (r.success === false && failed === 0) problems.push('vitest reported an unsuccessful run');
  if (problems.length > 0) ok = false;
  lines.push(`${passed} passed, ${failed} failed (${label}${problems.length ? `: ${problems.join(', ')}` : ''})`);
}
if (lines.length === 0) {
  ok = false;
  lines.push('0 passed, 0 failed (no report named)');
}
for (const l of lines) console.log(l);
process.exit(ok ? 0 : 1);
