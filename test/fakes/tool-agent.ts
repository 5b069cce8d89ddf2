// A small fake agent for the stop-tool tests in a real cgroup:
//   node --import tsx test/fakes/tool-agent.ts --cgroup DIR --mode M --target-mib N [--tool-exec P]
// It moves itself into DIR (so only what it allocates from now on is charged there), prints each
// line memgov types into its stdin as `KEYSTROKE <line>` and each signal it gets as
// `SIGNAL <name>` (exiting on SIGTERM, as an agent would), and then, by --mode:
//   own-group    spawns a tool child in a process group of its own that grows to --target-mib
//   same-group   the same, with the tool left in the agent's own process group
//   agent-grows  grows itself to --target-mib (the control case: no tool)
// The tool is `--tool-exec` (a link to node under a hostile name, so the kernel's comm is that
// name) running an allocation loop; its exit is printed as `TOOL EXITED <code> <signal>`.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    cgroup: { type: 'string' },
    mode: { type: 'string' },
    'target-mib': { type: 'string' },
    'tool-exec': { type: 'string', default: process.execPath },
  },
});
const MIB = 1024 * 1024;
const targetBytes = Number(values['target-mib']) * MIB;

/** Grows by 4 MiB every 100 ms (40 MiB/s, so 250 ms polls see 70% well before 90%), then holds. */
function grow(target: number): void {
  const held: Buffer[] = [];
  setInterval(() => {
    if (held.length * 4 * 1024 * 1024 < target) held.push(Buffer.alloc(4 * 1024 * 1024, 1));
  }, 100);
}

writeFileSync(`${values.cgroup}/cgroup.procs`, String(process.pid));
createInterface({ input: process.stdin }).on('line', (line) => console.log(`KEYSTROKE ${line}`));
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const) {
  process.on(signal, () => {
    console.log(`SIGNAL ${signal}`);
    if (signal === 'SIGTERM') process.exit(143);
  });
}
console.log(`AGENT READY ${process.pid}`);

if (values.mode === 'agent-grows') {
  grow(targetBytes);
} else {
  const tool = spawn(values['tool-exec'], ['-e', `(${grow.toString()})(${targetBytes})`], {
    detached: values.mode === 'own-group',
    stdio: 'ignore',
  });
  console.log(`TOOL STARTED ${tool.pid}`);
  tool.on('exit', (code, signal) => console.log(`TOOL EXITED ${code} ${signal}`));
}
setInterval(() => undefined, 60_000);
