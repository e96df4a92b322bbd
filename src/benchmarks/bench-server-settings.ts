/**
 * Server settings for benchmarks, the same for the ceiling and for partgov:
 * 1e6 rows with three indexes write ~1 GB of WAL, so with the default
 * max_wal_size (1 GB) a checkpoint landed mid-run at random and moved the
 * same code between 0.70x and 1.04x of the ceiling. A bulk-loading server is
 * configured like this anyway.
 */
export const benchServerSettings: Record<string, string> = {
  max_wal_size: '8GB',
  checkpoint_timeout: '30min',
  shared_buffers: '512MB',
};
