#!/usr/bin/env node
// The bundled binary's entry point (dist/memgov.mjs). Sets the exit code rather than calling
// process.exit, so buffered stdout reaches a pipe before the process ends.
import { processIo } from './io.ts';
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2), processIo);
