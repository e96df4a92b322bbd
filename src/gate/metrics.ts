import { Gauge, Registry } from 'prom-client';
import type { BenchResult } from '../bench/run-bench.js';
import type { GateSummary } from './run-gate.js';

/**
 * The gate's and bench's figures in Prometheus text format (prom-client):
 * `partgov_gate_*` when a gate ran, `partgov_bench_*` for every scale, workload and layout.
 */
export async function figuresMetrics(o: { gate?: GateSummary; bench: BenchResult | null }): Promise<string> {
  const registry = new Registry();
  const gauge = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers: [registry] });
  const g = o.gate;
  if (g) {
    gauge('partgov_gate_ok', 'Whether the last gate passed (1) or failed (0)').set(g.ok ? 1 : 0);
    const check = gauge('partgov_gate_check_passed', 'Per gate check: 1 pass or skip, 0 fail or warn', ['check']);
    for (const c of g.checks) check.set({ check: c.name }, c.status === 'pass' || c.status === 'skip' ? 1 : 0);
    gauge('partgov_gate_required_scale_ok', 'Evidence exists at the required scale').set(g.required_scale_ok ? 1 : 0);
    gauge('partgov_gate_reset_policy_ok', 'The perf scope was reset partition-first').set(g.reset_policy_ok ? 1 : 0);
    gauge('partgov_gate_last_run_timestamp_seconds', 'When the last gate finished').set(Math.floor(Date.parse(g.finished_at) / 1000));
  }
  const deletes = g?.purge_delete_strategy_tables_total ?? (o.bench?.scales ?? []).reduce((n, s) => n + (s.reset?.purge_delete_strategy_tables_total ?? 0), 0);
  gauge('partgov_purge_delete_strategy_tables_total', 'Tables whose perf-scope reset needed a DELETE').set(deletes);
  const p95 = gauge('partgov_bench_latency_p95_ms', 'Bench p95 latency', ['scale', 'workload', 'layout']);
  const p99 = gauge('partgov_bench_latency_p99_ms', 'Bench p99 latency', ['scale', 'workload', 'layout']);
  const err = gauge('partgov_bench_error_rate', 'Bench error rate', ['scale', 'workload', 'layout']);
  for (const s of o.bench?.scales ?? []) {
    for (const r of s.results) {
      const labels = { scale: String(s.scale), workload: r.workload, layout: r.layout };
      p95.set(labels, r.figures.p95_ms);
      p99.set(labels, r.figures.p99_ms);
      err.set(labels, r.figures.error_rate);
    }
  }
  return registry.metrics();
}
