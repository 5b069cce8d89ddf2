// Moved to transports/ (docs/TRANSPORTS.md); kept as a re-export until perform.ts picks from the table.
export { runArgv } from '../transports/command.ts';
export { typeLine } from '../transports/stdin.ts';
