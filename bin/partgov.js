#!/usr/bin/env node
// Thin entry: the CLI lives in dist/cli/main.js (built by `npm ci` via the prepare script).
import { main } from '../dist/cli/main.js';

await main(process.argv);
