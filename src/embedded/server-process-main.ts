/**
 * Entry of the embedded server's own process (see server-process.ts).
 * argv: <major 15|18> <fast|durable>. Prints one JSON line when ready, stops
 * the server and exits when stdin closes.
 */
import { startEmbeddedServer } from './embedded-server.js';

const major = process.argv[2] === '15' ? 15 : 18;
const server = await startEmbeddedServer({ major, fast: process.argv[3] === 'fast', onLog: () => undefined });
process.stdout.write(`${JSON.stringify({ adminUrl: server.adminUrl, port: server.port, major })}\n`);
process.stdin.on('end', () => {
  void server.stop().finally(() => process.exit(0));
});
process.stdin.resume();
