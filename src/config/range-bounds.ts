import type { RangeLayout } from './config-schema.js';
import { InputInvalidError } from '../errors.js';

export interface RangeBound {
  from: Date;
  to: Date;
  /** Name fragment: `2026_11` (month) or `2026_11_23` (day, week: its Monday). */
  label: string;
}

/** Start of the interval containing `d`, in UTC. Weeks start on Monday, as date_trunc('week'). */
export function truncateToInterval(d: Date, interval: RangeLayout['interval']): Date {
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  if (interval === 'month') return new Date(Date.UTC(y, m, 1));
  const day = new Date(Date.UTC(y, m, d.getUTCDate()));
  if (interval === 'day') return day;
  const mondayOffset = (day.getUTCDay() + 6) % 7;
  return new Date(day.getTime() - mondayOffset * 86_400_000);
}

export function addIntervals(d: Date, interval: RangeLayout['interval'], n: number): Date {
  if (interval === 'month') return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, 1));
  return new Date(d.getTime() + n * (interval === 'week' ? 7 : 1) * 86_400_000);
}

export function rangeLabel(d: Date, interval: RangeLayout['interval']): string {
  const iso = d.toISOString();
  return interval === 'month' ? `${iso.slice(0, 4)}_${iso.slice(5, 7)}` : `${iso.slice(0, 4)}_${iso.slice(5, 7)}_${iso.slice(8, 10)}`;
}

/** More partitions than this in one plan is almost certainly a wrong start date. */
export const maxRangePartitions = 5000;

/**
 * The range partitions a plan creates: from the configured start (else the
 * legacy minimum, else now) through `premake` intervals past the current one.
 */
export function rangeBounds(layout: RangeLayout, now: Date, legacyMin: Date | null): RangeBound[] {
  const start = truncateToInterval(layout.start ? new Date(`${layout.start}T00:00:00Z`) : (legacyMin ?? now), layout.interval);
  const end = addIntervals(truncateToInterval(now, layout.interval), layout.interval, layout.premake + 1);
  const out: RangeBound[] = [];
  for (let from = start; from < end; from = addIntervals(from, layout.interval, 1)) {
    out.push({ from, to: addIntervals(from, layout.interval, 1), label: rangeLabel(from, layout.interval) });
    if (out.length > maxRangePartitions) {
      throw new InputInvalidError(`the range layout would create more than ${maxRangePartitions} ${layout.interval} partitions from ${start.toISOString().slice(0, 10)}`, {
        fix: 'set layout.start to a later date, or use a longer interval',
      });
    }
  }
  return out;
}
