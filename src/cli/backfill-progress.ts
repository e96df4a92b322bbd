import cliProgress from 'cli-progress';
import type { BackfillProgress } from '../backfill/run-backfill.js';

export interface ProgressRenderer {
  update(p: BackfillProgress): void;
  stop(): void;
}

function eta(sec: number | null): string {
  if (sec === null) return '?';
  const m = Math.floor(sec / 60);
  return m > 0 ? `${m}m${String(sec % 60).padStart(2, '0')}s` : `${sec}s`;
}

/**
 * A bar with rows, rows/s and ETA on a terminal; on anything else (CI logs,
 * pipes) one plain line at most every `intervalMs`. Always on stderr, so
 * `--json` stdout stays one document.
 */
export function backfillProgress(stream: NodeJS.WriteStream = process.stderr, intervalMs = 5_000): ProgressRenderer {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { stream, format: '{table} [{bar}] {percentage}% | {value}/{total} rows | {rate} rows/s | ETA {eta_h} | batch {batch}', hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update: (p) => {
        const payload = { table: p.table, rate: p.rows_per_sec, eta_h: eta(p.eta_sec), batch: p.batch_size };
        if (!started) {
          bar.start(p.rows_estimate, p.total_rows_copied, payload);
          started = true;
        }
        bar.setTotal(p.rows_estimate);
        bar.update(p.total_rows_copied, payload);
      },
      stop: () => {
        if (started) bar.stop();
      },
    };
  }
  let last = 0;
  return {
    update: (p) => {
      const now = Date.now();
      if (now - last < intervalMs) return;
      last = now;
      stream.write(`backfill ${p.table}: ${p.total_rows_copied}/${p.rows_estimate} rows, ${p.rows_per_sec} rows/s, ETA ${eta(p.eta_sec)}, batch ${p.batch_size}\n`);
    },
    stop: () => undefined,
  };
}
