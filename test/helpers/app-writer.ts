/**
 * The application writing in a loop while a test runs partgov beside it:
 * `step(i)` is one round of its statements. A failed statement is recorded
 * (the tests assert there is none), never thrown. `stop()` ends the loop and
 * waits for the round in flight; call it in `finally` as well.
 */
export interface AppWriter {
  /** Rounds completed without an error so far. */
  readonly rounds: number;
  readonly failures: readonly string[];
  stop(): Promise<void>;
}

export function startAppWriter(step: (i: number) => Promise<void>): AppWriter {
  let running = true;
  let rounds = 0;
  const failures: string[] = [];
  const loop = (async () => {
    for (let i = 0; running; i++) {
      try {
        await step(i);
        rounds++;
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  })();
  return {
    get rounds() {
      return rounds;
    },
    failures,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}
