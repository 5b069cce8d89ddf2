// `memgov diagram [--format mermaid|json]`: the governor statechart, generated from the machine.
import { DEFAULT_POLICY } from '../../machines/config.ts';
import type { AnyStateMachine } from 'xstate';
import { createGovernorMachine } from '../../machines/governor.machine.ts';
import { DEFAULT_RESTART_BUDGET } from '../../machines/restart-budget.ts';
import { createSupervisorMachine } from '../../machines/supervisor.machine.ts';
import { toGraph, toMermaid } from '../../visualizations/diagram.ts';
import { stringFlag } from '../args.ts';
import { openCommand } from '../command.ts';
import { EXIT_OK, EXIT_USAGE, type CliIo } from '../io.ts';

export const DIAGRAM_HELP = `Usage: memgov diagram [--machine governor|supervisor] [--format mermaid|json]

Prints a statechart, generated from the machine definition.
  --machine governor    the policy: ladder, tier 3 arming, polling speeds (default)
  --machine supervisor  the actor system: sampler, governor, executor and their restarts
  --format mermaid      Mermaid stateDiagram-v2 text (default)
  --format json         states and transitions as JSON
`;

const MACHINES: Readonly<Record<string, () => AnyStateMachine>> = {
  governor: () => createGovernorMachine(DEFAULT_POLICY),
  supervisor: () =>
    createSupervisorMachine({ policy: DEFAULT_POLICY, budget: DEFAULT_RESTART_BUDGET }),
};

export function diagramCommand(argv: readonly string[], io: CliIo): number {
  const opened = openCommand(argv, io, {
    name: 'diagram',
    flags: { format: { kind: 'string' }, machine: { kind: 'string' } },
    help: DIAGRAM_HELP,
    positional: null,
  });
  if (opened.isErr()) return opened.error;
  const { args } = opened.value;
  const format = stringFlag(args, 'format') ?? 'mermaid';
  const name = stringFlag(args, 'machine') ?? 'governor';
  const make = MACHINES[name];
  if (make === undefined) {
    io.err(`memgov diagram: --machine must be governor or supervisor (got "${name}")\n`);
    return EXIT_USAGE;
  }
  const machine = make();
  if (format === 'mermaid') {
    io.out(toMermaid(machine));
    return EXIT_OK;
  }
  if (format === 'json') {
    io.out(`${JSON.stringify(toGraph(machine), null, 2)}\n`);
    return EXIT_OK;
  }
  io.err(`memgov diagram: --format must be mermaid or json (got "${format}")\n`);
  return EXIT_USAGE;
}
