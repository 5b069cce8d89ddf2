// memgov's command dispatcher: picks one command module and returns its exit code.
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

/**
 * Each command's module is loaded when it runs, not at start-up: the daemon (`run`) then never
 * parses the replay, timeline, demo, restore or diagram code, nor the libraries only they use
 * (docs/BENCHMARKS.md, "Footprint within target": the idle daemon's start-up peak).
 */
const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  run: async () => (await import('./commands/run.ts')).runCommand,
  start: async () => (await import('./commands/start.ts')).startCommand,
  status: async () => (await import('./commands/status.ts')).statusCommand,
  replay: async () => (await import('./commands/replay.ts')).replayCommand,
  timeline: async () => (await import('./commands/timeline.ts')).timelineCommand,
  sample: async () => (await import('./commands/sample.ts')).sampleCommand,
  diagram: async () => (await import('./commands/diagram.ts')).diagramCommand,
  demo: async () => (await import('./commands/demo.ts')).demoCommand,
  restore: async () => (await import('./commands/restore.ts')).restoreCommand,
  // Hidden: the demo's and the tests' stand-in agent.
  'synthetic-agent': async () =>
    (await import('./commands/synthetic-agent.ts')).syntheticAgentCommand,
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
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (load === undefined) {
    io.err(`memgov: unknown command "${name}"\n\n${MAIN_HELP}`);
    return EXIT_USAGE;
  }
  const command = await load();
  return command(rest, io);
}
