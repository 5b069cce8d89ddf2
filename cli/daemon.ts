// The composition root (docs/DESIGN.md, "The pipeline"): the one place that wires the real
// adapters, agent and transports into the supervisor's actors, then runs until a signal, the
// agent's own exit, or a spent restart budget. Read top-down it is the whole loop:
// open the cgroup -> take the lock -> restore -> start the agent -> sample -> decide -> act ->
// persist and report -> stop. Returns the process exit code.
import { createActor } from 'xstate';
import type { CgroupReader } from '../adapters/cgroup/reader.ts';
import type { DaemonOptions } from './daemon-options.ts';
import type { GovernorContext } from '../machines/governor.machine.ts';
import { createSupervisorMachine } from '../machines/supervisor.machine.ts';
import { createExecutorLogic } from '../actors/executor.ts';
import { startObservers, type Observers } from '../actors/observers.ts';
import {
  createPersister,
  restorable,
  restoreState,
  type Persister,
} from '../actors/persistence.ts';
import { createPerform } from '../actors/perform.ts';
import { largestTool } from '../actors/attribution.ts';
import { createReporting, readFailureLog } from '../actors/reporting.ts';
import { createSamplerLogic, watchEventsFile } from '../actors/sampler.ts';
import { startAgent, type GovernedAgent } from './daemon-agent.ts';
import {
  cleanArchiveLeftovers,
  logStarted,
  openCgroup,
  takeLock,
  trackedRead,
} from './daemon-open.ts';
import { listenForStop, runUntilStopped } from './daemon-stop.ts';
import { EXIT_FAILURE } from './io.ts';

export { EXIT_BUDGET_SPENT, EXIT_RELAUNCH_BUDGET_SPENT } from './daemon-stop.ts';

export type { DaemonOptions } from './daemon-options.ts';

export async function runDaemon(options: DaemonOptions): Promise<number> {
  const { config, log } = options;
  const now = options.now ?? Date.now;
  const { daemon } = config;

  const moves: { rewatch?: () => void } = {};
  const reader = openCgroup(config, log, moves);
  if (reader === null) return EXIT_FAILURE;
  const lock = takeLock(config, log, options.shmDir);
  if (typeof lock === 'number') return lock;
  cleanArchiveLeftovers(daemon.archive.dir, log);
  const persisted = restoreState(daemon.stateFile, log, now());
  if (persisted === 'refused') {
    lock.release();
    return EXIT_FAILURE;
  }
  const restored = restorable(persisted);

  const env = options.env ?? process.env;
  const governed = startAgent(options, reader, env, now);
  const observers = await startObservers(config, env, options.agentCommand, log);
  const persister = createPersister(daemon.stateFile, log, now);
  const machine = wireSupervisor({
    ...{ options, reader, moves, governed, observers, persister, env, now },
    restored: restored.governor,
  });
  const actor = createActor(machine, {
    input: { governor: restored.governor },
    ...(observers.inspect === undefined ? {} : { inspect: observers.inspect }),
    ...(restored.snapshot === undefined ? {} : { snapshot: restored.snapshot }),
  });
  // Listen before the start line: a SIGTERM sent on seeing it (a quick pod stop) must stop
  // memgov in order, not kill it by default; measured: 8 of 15 such stops under load did.
  const signals = options.stopSignal === undefined ? listenForStop() : null;
  const { stateFile, dryRun } = daemon;
  const { transport, profile } = governed;
  const facts = { stateFile, restored: restored.governor !== null, transport };
  const started = { ...facts, profile: profile.name, dryRun, agentCommand: options.agentCommand };
  logStarted(log, reader, started, { append: observers.journal, now });

  const { agent } = governed;
  const running = { actor, agent, observers, persister, options, now, signals };
  const exitCode = await runUntilStopped(running);
  await agent.shutdown(daemon.agent.terminateGraceMs);
  lock.release();
  return exitCode;
}

interface Wiring {
  readonly options: DaemonOptions;
  readonly reader: CgroupReader;
  readonly moves: { rewatch?: () => void };
  readonly governed: GovernedAgent;
  readonly observers: Observers;
  readonly persister: Persister;
  /** The governor restored at start: what it had reported is not reported again. */
  readonly restored: GovernorContext | null;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly now: () => number;
}

/** The supervisor with the real actors: sampler over the cgroup, executor over the agent. */
function wireSupervisor(w: Wiring) {
  const { config, log } = w.options;
  const { daemon, policy } = config;
  const readFailures = readFailureLog(log, w.now);
  const read = trackedRead(w.reader, readFailures.succeeded, w.options.read);
  const { agent } = w.governed;
  const watchEvents =
    w.reader.handle().version === 2 ? watchEventsFile(w.reader, log, w.moves) : null;
  return createSupervisorMachine({ policy, budget: daemon.supervisor }).provide({
    actors: {
      sampler: createSamplerLogic({
        read,
        now: w.now,
        agentIdentity: () => agent.identity(),
        attribute: largestTool({
          policy,
          agentPid: () => agent.identity()?.pid ?? null,
          memgovPid: process.pid,
          log,
        }),
        ...(watchEvents === null ? {} : { watchEvents }),
      }),
      executor: createExecutorLogic({
        perform: createPerform({ ...w.governed, config: daemon, log, now: w.now, env: w.env }),
        now: w.now,
      }),
    },
    actions: {
      persist: w.persister.persist,
      ...createReporting({
        log,
        policy,
        metrics: w.observers.metrics,
        journal: w.observers.journal,
        readFailed: readFailures.failed,
        restored: w.restored,
      }),
    },
  });
}
