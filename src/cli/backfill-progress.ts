import cliProgress from 'cli-progress';
import type { StageProgress } from '../stage/stage-context.js';

export interface ProgressRenderer {
  update(p: StageProgress): void;
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
        const payload = { table: p.table, rate: p.per_sec, eta_h: eta(p.eta_sec), batch: p.figures.batch_size };
        if (!started) {
          bar.start(p.total ?? p.done, p.done, payload);
          started = true;
        }
        bar.setTotal(p.total ?? p.done);
        bar.update(p.done, payload);
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
      stream.write(`${p.stage} ${p.table}: ${p.done}/${p.total ?? '?'} ${p.unit}, ${p.per_sec} ${p.unit}/s, ETA ${eta(p.eta_sec)}, batch ${p.figures.batch_size}\n`);
    },
    stop: () => undefined,
  };
}
