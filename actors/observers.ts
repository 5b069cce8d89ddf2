// The opt-in observers and the decision journal (docs/DESIGN.md, "Observability"): Prometheus
// metrics, the Stately inspector, the JSONL journal. Each is opened here for the daemon; none of
// them has a timer, and none of their failures stops governing (one log line, no retry).
import type { AnyStateMachine, InspectionEvent } from 'xstate';
import type { MemgovConfig } from '../machines/daemon-config.ts';
import { createInspector } from '../adapters/inspector.ts';
import {
  formatJournalError,
  openJournal,
  type Journal,
  type JournalRecord,
} from '../adapters/journal.ts';
import {
  createMetrics,
  formatListenError,
  serveMetrics,
  type DaemonMetrics,
  type HttpEndpoint,
  type ListenError,
} from '../adapters/metrics.ts';
import { journalPathOf, type DaemonConfig } from '../machines/daemon-config.ts';
import { createGovernorMachine } from '../machines/governor.machine.ts';
import type { Log } from './log.ts';

/** Environment variables that hold paths and names, never credentials: the inspector shows them. */
const PLAIN_ENV = new Set([
  'PATH',
  'HOME',
  'PWD',
  'OLDPWD',
  'SHELL',
  'TERM',
  'LANG',
  'USER',
  'LOGNAME',
  'HOSTNAME',
  'TMPDIR',
  'SHLVL',
  'AGENT_DATA',
  '_',
]);

/** What the inspector must never show: environment values, and arguments after each argv[0]. */
function inspectorSecrets(
  env: Readonly<Record<string, string | undefined>>,
  agentCommand: readonly string[],
  daemon: DaemonConfig,
): string[] {
  const values = Object.entries(env)
    .filter(([name]) => !PLAIN_ENV.has(name) && !name.startsWith('LC_'))
    .map(([, value]) => value ?? '');
  return [
    ...values,
    ...agentCommand.slice(1),
    ...(daemon.agent.commandArgv.compact ?? []).slice(1),
    ...(daemon.agent.commandArgv.clear ?? []).slice(1),
  ];
}

/** Every leaf state of a machine as `region.state` paths, the form stateString() prints. */
function leafStates(machine: AnyStateMachine): string[] {
  const leaves: string[] = [];
  const walk = (node: AnyStateMachine['root'], path: string): void => {
    const children = Object.entries(node.states);
    if (children.length === 0) leaves.push(path);
    for (const [key, child] of children) walk(child, path === '' ? key : `${path}.${key}`);
  };
  walk(machine.root, '');
  return leaves;
}

/** The opt-in observers and the journal, as the daemon's hooks feed them. */
export interface Observers {
  readonly metrics: DaemonMetrics | null;
  readonly inspect: ((event: InspectionEvent) => void) | undefined;
  /** Appends to the journal, if there is one; a failure is logged once per kind of failure. */
  readonly journal: (record: JournalRecord) => void;
  /** Binds the inspector (its actors must exist first, so this comes after createActor). */
  startInspector(): Promise<void>;
  close(): Promise<void>;
}

/** Logs where a listener listens, or why it could not start: one line, no retry. */
function listening(what: string, path: string, log: Log) {
  return {
    ok: (endpoint: HttpEndpoint): HttpEndpoint => {
      const { host, port } = endpoint;
      const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;
      log.info(`${what} listening`, { host, port, url });
      return endpoint;
    },
    err: (error: ListenError): null => {
      log.error(`${what} not served: governing goes on without it`, {
        detail: formatListenError(error),
      });
      return null;
    },
  };
}

function openJournalOf(daemon: DaemonConfig, log: Log): Journal | null {
  const path = journalPathOf(daemon);
  if (path === null) return null;
  const opened = openJournal({
    path,
    maxBytes: daemon.journal.maxBytes,
    keep: daemon.journal.keep,
  });
  if (opened.isErr()) {
    log.error('journal not opened: governing goes on without it', {
      detail: formatJournalError(opened.error),
    });
    return null;
  }
  return opened.value;
}

export async function startObservers(
  config: MemgovConfig,
  env: Readonly<Record<string, string | undefined>>,
  agentCommand: readonly string[],
  log: Log,
): Promise<Observers> {
  const { daemon, policy } = config;
  const endpoints: HttpEndpoint[] = [];
  let metrics: DaemonMetrics | null = null;
  if (daemon.metrics.enabled) {
    const created = await createMetrics({
      governorStates: leafStates(createGovernorMachine(policy)),
    });
    if (created.isErr())
      log.error('metrics not served: governing goes on without them', { detail: created.error });
    else {
      const report = listening('metrics', '/metrics', log);
      const served = (await serveMetrics(created.value, daemon.metrics)).match(
        report.ok,
        report.err,
      );
      if (served !== null) {
        metrics = created.value;
        endpoints.push(served);
      }
    }
  }
  const inspector = daemon.inspect.enabled
    ? createInspector({ ...daemon.inspect, secrets: inspectorSecrets(env, agentCommand, daemon) })
    : null;
  const journal = openJournalOf(daemon, log);
  const reported = new Set<string>();
  return {
    metrics,
    inspect: inspector?.observe,
    journal: (record) => {
      const written = journal?.append(record);
      if (written === undefined || written.isOk()) return;
      const kind = `${written.error.kind}:${written.error.code ?? ''}`;
      if (reported.has(kind)) return;
      reported.add(kind);
      log.error('journal not written: governing goes on (logged once per kind of failure)', {
        detail: formatJournalError(written.error),
      });
    },
    startInspector: async () => {
      if (inspector === null) return;
      const report = listening('inspector', '/', log);
      (await inspector.listen()).match(report.ok, report.err);
    },
    close: async () => {
      journal?.close();
      await Promise.all([inspector?.close(), ...endpoints.map((e) => e.close())]);
    },
  };
}
