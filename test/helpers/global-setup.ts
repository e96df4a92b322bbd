import type { TestProject } from 'vitest/node';
import { startEmbeddedServer, type EmbeddedServer } from '../../src/db/embedded-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of a server the tests may create databases on. */
    adminUrl: string;
    serverMajor: number;
  }
}

/**
 * One real PostgreSQL per test run: the server at PARTGOV_TEST_DATABASE_URL or
 * DATABASE_URL when set, otherwise an embedded one on a free loopback port
 * (major from PARTGOV_TEST_PG_MAJOR, 18 by default). Each test file creates
 * its own database on it (test/helpers/test-database.ts).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.PARTGOV_TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  let server: EmbeddedServer | undefined;
  if (external) {
    project.provide('adminUrl', external);
    project.provide('serverMajor', 0);
  } else {
    const major = process.env.PARTGOV_TEST_PG_MAJOR === '15' ? 15 : 18;
    server = await startEmbeddedServer({ major, fast: true });
    project.provide('adminUrl', server.adminUrl);
    project.provide('serverMajor', major);
    // Stop the server on Ctrl-C too; vitest's teardown does not run on SIGINT/SIGTERM.
    const stopAndExit = (signal: NodeJS.Signals) => {
      void server?.stop().finally(() => process.kill(process.pid, signal));
    };
    process.once('SIGINT', stopAndExit);
    process.once('SIGTERM', stopAndExit);
  }
  return async () => {
    await server?.stop();
  };
}
