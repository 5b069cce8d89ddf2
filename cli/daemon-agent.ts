// Part of the composition root (cli/daemon.ts): which agent the daemon governs and how it talks
// to it. Launched (`-- CMD`, in tmux for terminal CLIs, else as a child that memgov owns the stdin
// of), or attached by PID, pidfile or pane; the transport follows from that and the config.
import type { CgroupReader } from '../adapters/cgroup/reader.ts';
import { createTmux, type Tmux } from '../adapters/tmux.ts';
import {
  launchesInTmux,
  resolveTransport,
  type AgentConfig,
  type ProfileName,
  type TransportKind,
} from '../machines/daemon-config.ts';
import { attachedAgent, launchedAgent, type AgentHandle } from '../actors/agent.ts';
import { tmuxLaunchedAgent } from '../actors/agent-tmux.ts';
import { sessionLineage, type SessionLineage } from '../actors/lineage.ts';
import { profileFor, type AgentName, type AgentProfile } from '../agents/index.ts';
import type { DaemonOptions } from './daemon-options.ts';

export interface GovernedAgent {
  readonly agent: AgentHandle;
  readonly transport: TransportKind;
  readonly profile: AgentProfile;
  readonly tmux: Tmux;
  /** The agent's session ids since launch or attach (actors/lineage.ts). */
  readonly lineage: SessionLineage;
}

/**
 * The config's profile names (machines/daemon-config.ts validates them) and the agents/ table must
 * name the same CLIs: a name in one and not the other fails to compile here.
 */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const PROFILE_NAMES_MATCH_AGENTS: Same<ProfileName, AgentName> = true;
void PROFILE_NAMES_MATCH_AGENTS;

/** After a quick failure the relaunch waits 1 s, doubling to 60 s; a minute's run resets it. */
const RELAUNCH = { backoffMs: 1_000, maxBackoffMs: 60_000, healthyAfterMs: 60_000 } as const;

/** The tmux server of `agent.tmuxSocket`: a path (holds a `/`) for -S, else a name for -L. */
function tmuxClient(agent: AgentConfig): Tmux {
  const socket = agent.tmuxSocket;
  if (socket === null) return createTmux();
  return createTmux(socket.includes('/') ? { socketPath: socket } : { socketName: socket });
}

export function startAgent(
  options: DaemonOptions,
  reader: CgroupReader,
  env: Readonly<Record<string, string | undefined>>,
  now: () => number,
): GovernedAgent {
  const { log } = options;
  const config = options.config.daemon.agent;
  const profile = profileFor(config);
  const tmux = tmuxClient(config);
  const relaunchWindowMs = options.config.daemon.relaunchWindowMs;
  const launch = { argv: options.agentCommand, ...RELAUNCH, relaunchWindowMs, now };
  const lineage = sessionLineage(log);
  const oomKills = (): number | null =>
    reader.read().match(
      (r) => r.oomKills,
      () => null,
    );
  const paneLaunch = { tmux, profile, env, cwd: options.cwd ?? process.cwd(), oomKills, lineage };
  const agent: AgentHandle =
    options.agentCommand.length === 0
      ? attachedAgent({ pid: config.pid, pidfile: config.pidfile }, log)
      : launchesInTmux(config)
        ? tmuxLaunchedAgent({ ...launch, ...paneLaunch, resume: config.resume }, log)
        : launchedAgent(launch, log);
  return { agent, transport: resolveTransport(config, agent.launched), profile, tmux, lineage };
}
