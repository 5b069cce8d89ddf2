// memgov's command dispatcher: picks one command module and returns its exit code.
import { demoCommand } from './commands/demo.ts';
import { diagramCommand } from './commands/diagram.ts';
import { replayCommand } from './commands/replay.ts';
import { restoreCommand } from './commands/restore.ts';
import { runCommand } from './commands/run.ts';
import { startCommand } from './commands/start.ts';
import { statusCommand } from './commands/status.ts';
import { syntheticAgentCommand } from './commands/synthetic-agent.ts';
import { sampleCommand } from './commands/sample.ts';
import { timelineCommand } from './commands/timeline.ts';
import { EXIT_OK, EXIT_USAGE, type CliIo } from './io.ts';

declare const MEMGOV_VERSION: string | undefined;
const VERSION = typeof MEMGOV_VERSION === 'string' ? MEMGOV_VERSION : 'dev';

export const MAIN_HELP = `memgov ${VERSION}: memory governor for AI coding agents in Kubernetes pods

Usage: memgov <command> [options]

Commands:
  run        the daemon: govern this cgroup (add -- CMD to launch the agent)
  start      the daemon in the background (start --detach), for a postStart hook
  status     what the state file records: tier, windows, last actions
  demo       the whole ladder on this machine in about 25 s (synthetic agent)
  restore    restore ARCHIVE: verify an archive, copy the session back, print the resume command
  replay     replay TRACE: the governor over a recorded memory curve (JSONL); --html OUT draws it
  timeline   timeline JOURNAL --html OUT: a decision journal as one self-contained HTML file
  sample     read this process's memory cgroup once and print what memgov sees
  diagram    print the governor statechart (Mermaid or JSON)

Run 'memgov <command> --help' for a command's options.
`;

type Command = (argv: readonly string[], io: CliIo) => number | Promise<number>;

const COMMANDS: Readonly<Record<string, Command>> = {
  run: runCommand,
  start: startCommand,
  status: statusCommand,
  replay: replayCommand,
  timeline: timelineCommand,
  sample: sampleCommand,
  diagram: diagramCommand,
  demo: demoCommand,
  restore: restoreCommand,
  // Hidden: the demo's and the tests' stand-in agent.
  'synthetic-agent': syntheticAgentCommand,
};

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(MAIN_HELP);
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (name === '--version' || name === '-V') {
    io.out(`${VERSION}\n`);
    return EXIT_OK;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    io.err(`memgov: unknown command "${name}"\n\n${MAIN_HELP}`);
    return EXIT_USAGE;
  }
  return command(rest, io);
}
