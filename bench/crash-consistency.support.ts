// The crash-consistency run (issue 6, point 1): the shipped bundle governs a fixture cgroup whose
// usage this driver walks up the ladder (compact, clear, archive-terminate, back down) on a wall
// clock, with an agent to SIGTERM and a command transport whose every run leaves a marker file.
// Each round starts `memgov run` over what the last one left, SIGKILLs it after a seeded random
// delay, and checks what is on disk: a readable state file that never goes back in time, final
// archives that verify byte for byte (a crashed one only ever under a temp name), a journal of
// whole lines, and no action run twice (markers against the governor's own action records).
// bench/crash-consistency.ts runs it at length; test/hardening/crash.test.ts runs a few rounds.
// The fixture cgroup, marker commands and in-process daemon here also serve the storage and
// security tests (test/hardening/).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listArchives } from '../adapters/archive/list.ts';
import { verifyArchive } from '../adapters/archive/verify.ts';
import { loadConfig } from '../cli/config.ts';
import { hasExited, identify, signalVerified, type ProcessIdentity } from '../adapters/proc.ts';
import { readStateFile } from '../adapters/state-file.ts';
import { memoryLog, type LogFields } from '../actors/log.ts';
import { runDaemon } from '../cli/daemon.ts';
import { pollUntil } from '../test/support/daemon.ts';

export const FIXTURE_CGROUP = new URL('../test/fixtures/cgroup/v1-limited/', import.meta.url)
  .pathname;
/** memory.limit_in_bytes of the fixture. */
export const FIXTURE_LIMIT_BYTES = 64 * 1024 * 1024;

/** A copy of the v1 fixture cgroup whose usage the caller sets. */
export interface FixtureCgroup {
  readonly dir: string;
  /** Writes memory.usage_in_bytes (atomically: the sampler never reads half a number). */
  setUsageBytes(bytes: number): void;
}

export function fixtureCgroup(dir: string): FixtureCgroup {
  cpSync(FIXTURE_CGROUP, dir, { recursive: true });
  const usage = join(dir, 'memory.usage_in_bytes');
  let n = 0;
  return {
    dir,
    setUsageBytes: (bytes) => {
      const temp = `${usage}.w${n++}`;
      writeFileSync(temp, `${Math.round(bytes)}\n`);
      renameSync(temp, usage);
    },
  };
}

/** The environment variable that tells the commands a memgov runs which memgov that is. */
export const INSTANCE_ENV = 'CRASH_RUN_INSTANCE';

/**
 * The command-transport argv for a rung: a Node one-liner that leaves
 * `<markerDir>/<action>=<MEMGOV_RATIO>=<pid>=<instance>` behind, so each run of an action is
 * countable, names the ratio the governor decided it at, and names the memgov that ran it (from
 * the environment memgov passes on; its parent pid would not do: a command outlives a killed
 * memgov and is reparented before it writes). The directory is an argument: nothing is spliced
 * into code or a command line.
 */
export function markerArgv(markerDir: string): string[] {
  const script =
    "require('fs').writeFileSync(require('path').join(process.argv[1], [process.env.MEMGOV_ACTION," +
    ` process.env.MEMGOV_RATIO, process.pid, process.env.${INSTANCE_ENV} || 0].join('=')), '')`;
  return [process.execPath, '-e', script, markerDir];
}

export interface Marker {
  readonly action: string;
  /** As the governor passed it: String(ratio); `terminate` markers have none. */
  readonly ratio: string;
  readonly pid: number;
  /** The memgov instance that ran the command (0: not known, as for `terminate` markers). */
  readonly instance: number;
}

export function readMarkers(markerDir: string): Marker[] {
  return readdirSync(markerDir).flatMap((name) => {
    const [action = '', ratio = '', pid = '', instance = '0'] = name.split('=');
    const known = /^\d+$/.test(instance) ? Number(instance) : 0;
    return /^\d+$/.test(pid) ? [{ action, ratio, pid: Number(pid), instance: known }] : [];
  });
}

/** One memgov process of the run: its number, from its start to its kill (the driver's clock). */
export interface Instance {
  readonly id: number;
  readonly startedAtMs: number;
  readonly endedAtMs: number;
}

/** A stand-in agent: idles, and on SIGTERM leaves a `terminate==<pid>` marker and exits. */
export function agentArgv(markerDir: string): string[] {
  const script =
    "process.on('SIGTERM', () => { require('fs').writeFileSync(require('path').join(" +
    "process.argv[1], 'terminate==' + process.pid), ''); process.exit(0); });" +
    'setInterval(() => {}, 1 << 30);';
  return [process.execPath, '-e', script, markerDir];
}

/** mulberry32: a small seeded PRNG, so a failing round can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One action as the governor recorded it (the state file's `actions`). */
export interface RecordedAction {
  readonly seq: number;
  readonly action: string;
  /** When the governor decided it (ms since the epoch, memgov's clock: the driver's too). */
  readonly atMs: number;
  readonly ratio: number;
  readonly outcome: string;
}

/** What a check found wrong: the round and a sentence naming the file. */
export interface Violation {
  readonly round: number;
  readonly what: string;
}

export interface StateCheck {
  readonly kind: 'missing' | 'ok' | 'unusable' | 'error';
  readonly savedAtMs: number | null;
  readonly actions: readonly RecordedAction[];
  readonly detail: string;
}

/** Reads the state file the way a restart does; `ok` carries the action records. */
export function checkStateFile(stateFile: string): StateCheck {
  const read = readStateFile(stateFile);
  if (read.isErr())
    return { kind: 'error', savedAtMs: null, actions: [], detail: read.error.detail };
  const state = read.value;
  if (state.kind === 'missing')
    return { kind: 'missing', savedAtMs: null, actions: [], detail: '' };
  if (state.kind === 'unusable') {
    return { kind: 'unusable', savedAtMs: null, actions: [], detail: state.reason };
  }
  const snapshot = state.snapshot as {
    context?: { governor?: { actions?: RecordedAction[] } | null };
  };
  return {
    kind: 'ok',
    savedAtMs: state.savedAtMs,
    actions: snapshot.context?.governor?.actions ?? [],
    detail: '',
  };
}

export interface ArchiveCheck {
  /** Final archives, each verified (every file's size and sha256 against its manifest). */
  readonly verified: number;
  /** `.tmp-*` directories: unfinished archives, or archives being pruned, at the kill. */
  readonly temps: readonly string[];
  /** Archives by `<reason>#<seq>` (the action that made them), from their manifests. */
  readonly byAction: readonly string[];
  /** The final archives' directories. */
  readonly finals: readonly string[];
  readonly problems: readonly string[];
}

const ARCHIVE_NAME = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z-[a-z0-9-]+$/;

/** Every final-named directory must be a whole archive; anything else may only be a temp dir. */
export async function checkArchives(archiveDir: string): Promise<ArchiveCheck> {
  if (!existsSync(archiveDir)) {
    return { verified: 0, temps: [], byAction: [], finals: [], problems: [] };
  }
  const problems: string[] = [];
  const temps: string[] = [];
  const listed = await listArchives(archiveDir);
  if (listed.isErr()) {
    return { verified: 0, temps, byAction: [], finals: [], problems: [listed.error.detail] };
  }
  const finals = new Set(listed.value.map((a) => a.dir));
  for (const name of readdirSync(archiveDir)) {
    const path = join(archiveDir, name);
    if (name.startsWith('.tmp-')) temps.push(path);
    else if (ARCHIVE_NAME.test(name) && !finals.has(path)) {
      problems.push(`${path}: named like an archive but has no valid manifest (a half archive)`);
    }
  }
  const byAction: string[] = [];
  let verified = 0;
  for (const archive of listed.value) {
    const checked = await verifyArchive(archive.dir);
    if (checked.isErr()) {
      problems.push(`${checked.error.path}: ${checked.error.detail}`);
      continue;
    }
    verified += 1;
    const manifest = JSON.parse(readFileSync(join(archive.dir, 'manifest.json'), 'utf8')) as {
      seq?: unknown;
    };
    byAction.push(`${archive.reason}#${String(manifest.seq)}`);
  }
  return { verified, temps, byAction, finals: [...finals], problems };
}

export interface JournalCheck {
  readonly lines: number;
  /** Lines that are not JSON: a write torn by the kill (at most one per kill is tolerable). */
  readonly torn: number;
}

/** Counts the journal's lines (live file and rotated ones) and those that do not parse. */
export function checkJournal(stateDir: string): JournalCheck {
  let lines = 0;
  let torn = 0;
  for (const name of readdirSync(stateDir)) {
    if (!name.startsWith('mem_governor_journal.jsonl')) continue;
    for (const line of readFileSync(join(stateDir, name), 'utf8').split('\n')) {
      if (line === '') continue;
      lines += 1;
      try {
        JSON.parse(line);
      } catch {
        torn += 1;
      }
    }
  }
  return { lines, torn };
}

/**
 * Every action the governor ever recorded, by seq, gathered round by round (the state file keeps
 * the newest 20). A record that changes seq, action or ratio between rounds is a violation.
 */
export class Ledger {
  readonly bySeq = new Map<number, RecordedAction>();

  merge(actions: readonly RecordedAction[], round: number, violations: Violation[]): void {
    for (const record of actions) {
      const known = this.bySeq.get(record.seq);
      if (known !== undefined && (known.action !== record.action || known.ratio !== record.ratio)) {
        violations.push({
          round,
          what: `action #${record.seq} was ${known.action} at ${known.ratio}, now ${record.action} at ${record.ratio}: the state went back`,
        });
      }
      this.bySeq.set(record.seq, record);
    }
  }

  count(action: string): number {
    return [...this.bySeq.values()].filter((r) => r.action === action).length;
  }
}

/**
 * No action ran twice: each compact or clear marker matches one recorded action (same action,
 * same ratio) and no record has two markers; the memgov that ran it is the one that decided it
 * (an action a restarted memgov takes up again is dispatched twice, even if the first never got
 * to run it); SIGTERMs (terminate markers) are no more than the archive-terminates recorded; no
 * action made two archives.
 */
export function checkNoRepeats(
  ledger: Ledger,
  markers: readonly Marker[],
  archivesByAction: readonly string[],
  round: number,
  instances: readonly Instance[] = [],
): Violation[] {
  const violations: Violation[] = [];
  const runs = new Map<string, number>();
  const recorded = new Map<string, number>();
  const decidedAt = new Map<string, number>();
  for (const record of ledger.bySeq.values()) {
    const key = `${record.action}@${String(record.ratio)}`;
    recorded.set(key, (recorded.get(key) ?? 0) + 1);
    decidedAt.set(key, record.atMs);
  }
  for (const marker of markers) {
    if (marker.action === 'terminate') continue;
    const key = `${marker.action}@${marker.ratio}`;
    runs.set(key, (runs.get(key) ?? 0) + 1);
    const atMs = decidedAt.get(key);
    const decider = instances.find(
      (i) => atMs !== undefined && i.startedAtMs <= atMs && atMs <= i.endedAtMs,
    );
    if (decider !== undefined && marker.instance !== 0 && marker.instance !== decider.id) {
      violations.push({
        round,
        what: `${key} was decided by memgov #${decider.id} but run by memgov #${marker.instance}: taken up again after a restart`,
      });
    }
  }
  for (const [key, count] of runs) {
    const decided = recorded.get(key) ?? 0;
    if (count > decided) {
      violations.push({
        round,
        what:
          decided === 0
            ? `${key} ran ${count} time(s) but the state file never recorded it`
            : `${key} ran ${count} times for ${decided} decision(s): repeated`,
      });
    }
  }
  const terminates = markers.filter((m) => m.action === 'terminate').length;
  const tier3 = ledger.count('archive-terminate');
  if (terminates > tier3) {
    violations.push({ round, what: `${terminates} SIGTERMs for ${tier3} archive-terminates` });
  }
  const seen = new Set<string>();
  for (const key of archivesByAction) {
    if (seen.has(key)) violations.push({ round, what: `two archives for ${key}` });
    seen.add(key);
  }
  return violations;
}

/** Keeps one stand-in agent running, relaunched (new pidfile) after each SIGTERM. */
class AgentKeeper {
  private current: { child: ChildProcess; identity: ProcessIdentity } | null = null;
  private readonly timer: NodeJS.Timeout;
  private readonly all: ProcessIdentity[] = [];

  constructor(
    private readonly pidfile: string,
    private readonly markerDir: string,
  ) {
    this.ensure();
    this.timer = setInterval(() => this.ensure(), 100);
    process.on('exit', this.killAll);
  }

  /** Also on the driver's own exit (Ctrl-C included): agents run in groups of their own. */
  private readonly killAll = (): void => {
    for (const identity of this.all) {
      signalVerified(identity, 'SIGKILL', { group: true }).unwrapOr('gone');
    }
  };

  private ensure(): void {
    if (this.current !== null && !hasExited(this.current.identity)) return;
    const [program = '', ...args] = agentArgv(this.markerDir);
    // Its own process group: tier 3 signals the group, never the driver's.
    const child = spawn(program, args, { detached: true, stdio: 'ignore' });
    child.on('error', () => undefined);
    const found = child.pid === undefined ? null : identify(child.pid);
    if (found === null || found.isErr()) return;
    this.current = { child, identity: found.value };
    this.all.push(found.value);
    const temp = `${this.pidfile}.tmp`;
    writeFileSync(temp, `${found.value.pid}\n`);
    renameSync(temp, this.pidfile);
  }

  stop(): void {
    clearInterval(this.timer);
    process.removeListener('exit', this.killAll);
    this.killAll();
  }
}

/** The usage walk: down low, then compact, clear and tier-3 levels, each held for `phaseMs`. */
const LADDER = [0.3, 0.75, 0.87, 0.93] as const;

/** Moves the fixture's usage along LADDER on the wall clock; every level written is unique. */
class LoadDriver {
  private readonly timer: NodeJS.Timeout;
  private step = 0;

  constructor(
    private readonly cgroup: FixtureCgroup,
    phaseMs: number,
  ) {
    this.write();
    this.timer = setInterval(() => this.write(), phaseMs);
  }

  private write(): void {
    const level = LADDER[this.step % LADDER.length] ?? 0.3;
    // A few pages more each time, so each decision's ratio names one level and one decision.
    this.cgroup.setUsageBytes(level * FIXTURE_LIMIT_BYTES + (this.step % 4096) * 4096);
    this.step += 1;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

export interface CrashRunOptions {
  readonly rounds: number;
  readonly seed: number;
  /** dist/memgov.mjs or a pinned copy. */
  readonly bundle: string;
  /** A fresh directory for everything the run writes; removed by the caller. */
  readonly workDir: string;
  /** Longest random delay before the SIGKILL. Default 3000. */
  readonly maxKillDelayMs?: number;
  /** How long each ladder level is held. Default 600. */
  readonly phaseMs?: number;
  /** Progress, one line per round. */
  readonly onRound?: (line: string) => void;
}

export interface CrashRunResult {
  readonly rounds: number;
  readonly seed: number;
  readonly violations: readonly Violation[];
  readonly totals: {
    /** Rounds that found a state file: ok (readable) / missing (killed before the first write). */
    stateOk: number;
    stateMissing: number;
    statusOk: number;
    /** Kills that landed after memgov logged 'memgov started' (restored and governing). */
    killedWhileGoverning: number;
    /** Kills within 150 ms after an action was decided: in the middle of a write or an archive. */
    killedNearAction: number;
    archivesVerified: number;
    tempDirsSeen: number;
    stateTempsSeen: number;
    actionsRecorded: Record<string, number>;
    actionsRun: Record<string, number>;
    journalLines: number;
    journalTorn: number;
    /** Temp dirs still there a round later: that round was killed before it made an archive
     * (they are removed before the next archive; one outliving an archive is a violation). */
    tempDirsKeptARound: number;
  };
}

interface Started {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  governing: boolean;
  lastActionAtMs: number;
  output: string;
}

function startMemgov(bundle: string, args: readonly string[], instance: number): Started {
  const child = spawn(process.execPath, [bundle, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', [INSTANCE_ENV]: String(instance) },
  });
  const started: Started = {
    child,
    exited: new Promise((resolve) => child.once('exit', () => resolve())),
    governing: false,
    lastActionAtMs: Number.NEGATIVE_INFINITY,
    output: '',
  };
  let partial = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    started.output = (started.output + chunk).slice(-4000);
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.includes('"memgov started"')) started.governing = true;
      if (line.includes('"decision"') && /"action":"[a-z-]+"/.test(line)) {
        started.lastActionAtMs = Date.now();
      }
    }
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    started.output = (started.output + chunk).slice(-4000);
  });
  return started;
}

function statusWorks(bundle: string, stateFile: string, config: string): boolean {
  const run = spawnSync(
    process.execPath,
    [bundle, 'status', '--json', '--state-file', stateFile, '--config', config],
    { encoding: 'utf8', timeout: 10_000, env: { PATH: process.env.PATH ?? '' } },
  );
  if (run.status !== 0) return false;
  try {
    JSON.parse(run.stdout);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs the rounds; never throws for a violation (they are returned), only for a broken setup. */
export async function runCrashRounds(options: CrashRunOptions): Promise<CrashRunResult> {
  const { rounds, seed, bundle, workDir } = options;
  const maxKillDelayMs = options.maxKillDelayMs ?? 3_000;
  const phaseMs = options.phaseMs ?? 600;
  const random = seededRandom(seed);
  const stateDir = join(workDir, 'state');
  const stateFile = join(stateDir, 'mem_governor_state');
  const archiveDir = join(workDir, 'archive');
  const sessionDir = join(workDir, 'session');
  const markerDir = join(workDir, 'markers');
  for (const dir of [sessionDir, markerDir]) mkdirSync(dir, { recursive: true });
  // Big enough that an archive takes a while (and a checkpoint copies what changed).
  for (let i = 0; i < 6; i++)
    writeFileSync(join(sessionDir, `part-${i}.bin`), randomBytes(2 << 20));
  const cgroup = fixtureCgroup(join(workDir, 'cgroup'));
  const pidfile = join(workDir, 'agent.pid');
  const config = join(workDir, 'memgov.json');
  writeFileSync(
    config,
    JSON.stringify({
      minPollMs: 100,
      urgentPollMs: 100,
      fastPollMs: 200,
      relaxedPollMs: 400,
      compactWindowMs: Math.round(phaseMs * 3),
      stateFile,
      agent: {
        transport: 'command',
        pidfile,
        commandArgv: { compact: markerArgv(markerDir), clear: markerArgv(markerDir) },
        terminateGraceMs: 1_000,
      },
      archive: { dir: archiveDir, paths: [sessionDir], retain: 3, deadlineMs: 5_000 },
    }),
  );
  const runArgs = [
    'run',
    '--cgroup',
    cgroup.dir,
    '--config',
    config,
    '--log-format',
    'json',
    '--log-level',
    'info',
  ];
  const totals: CrashRunResult['totals'] = {
    stateOk: 0,
    stateMissing: 0,
    statusOk: 0,
    killedWhileGoverning: 0,
    killedNearAction: 0,
    archivesVerified: 0,
    tempDirsSeen: 0,
    stateTempsSeen: 0,
    actionsRecorded: {},
    actionsRun: {},
    journalLines: 0,
    journalTorn: 0,
    tempDirsKeptARound: 0,
  };
  const violations: Violation[] = [];
  const reported = new Set<string>();
  const instances: Instance[] = [];
  const ledger = new Ledger();
  const agents = new AgentKeeper(pidfile, markerDir);
  const load = new LoadDriver(cgroup, phaseMs);
  let lastSavedAtMs = Number.NEGATIVE_INFINITY;
  let finalsBefore = new Set<string>();
  let everWritten = false;
  let running: Started | null = null;
  const rotateDir = (): void => {
    // Rewrites one session file between rounds: the next checkpoint copies it, links the rest.
    writeFileSync(join(sessionDir, `part-${Math.floor(random() * 6)}.bin`), randomBytes(2 << 20));
  };
  try {
    for (let round = 1; round <= rounds; round++) {
      const tempsBefore = existsSync(archiveDir)
        ? readdirSync(archiveDir).filter((n) => n.startsWith('.tmp-'))
        : [];
      const delayMs = Math.floor(random() * maxKillDelayMs);
      // Half the rounds aim at the moment right after an action is decided: the state write,
      // the command, the checkpoint or tier-3 archive.
      const aimed = random() < 0.5;
      const aimMs = Math.floor(random() * 150);
      const startedAtMs = Date.now();
      running = startMemgov(bundle, runArgs, round);
      let exitedEarly = false;
      void running.exited.then(() => (exitedEarly = true));
      for (;;) {
        const nowMs = Date.now();
        const elapsedMs = nowMs - startedAtMs;
        if (exitedEarly) break;
        if (!aimed && elapsedMs >= delayMs) break;
        const actedAfterDelay = running.lastActionAtMs >= startedAtMs + delayMs;
        if (aimed && actedAfterDelay && nowMs - running.lastActionAtMs >= aimMs) break;
        // No action came (the ladder is between levels for longer than expected): kill anyway.
        if (aimed && elapsedMs > delayMs + 2 * phaseMs * LADDER.length) break;
        await sleep(2);
      }
      if (exitedEarly) {
        violations.push({ round, what: `memgov exited before the kill:\n${running.output}` });
      }
      running.child.kill('SIGKILL');
      await running.exited;
      instances.push({ id: round, startedAtMs, endedAtMs: Date.now() });
      const nearAction = Date.now() - running.lastActionAtMs < 200;
      if (running.governing) totals.killedWhileGoverning += 1;
      if (nearAction) totals.killedNearAction += 1;
      const output = running.output;
      running = null;

      const state = checkStateFile(stateFile);
      if (state.kind === 'ok') {
        totals.stateOk += 1;
        everWritten = true;
        if ((state.savedAtMs ?? 0) < lastSavedAtMs) {
          violations.push({
            round,
            what: `${stateFile}: saved at ${state.savedAtMs}, older than ${lastSavedAtMs} seen before`,
          });
        }
        lastSavedAtMs = state.savedAtMs ?? lastSavedAtMs;
        ledger.merge(state.actions, round, violations);
        if (statusWorks(bundle, stateFile, config)) totals.statusOk += 1;
        else violations.push({ round, what: `memgov status --json failed on ${stateFile}` });
      } else if (state.kind === 'missing' && !everWritten) {
        totals.stateMissing += 1;
      } else {
        violations.push({ round, what: `${stateFile}: ${state.kind} ${state.detail}` });
      }
      totals.stateTempsSeen += readdirSync(stateDir, { withFileTypes: true }).filter((e) =>
        e.name.startsWith('mem_governor_state.tmp-'),
      ).length;

      const archives = await checkArchives(archiveDir);
      totals.archivesVerified += archives.verified;
      totals.tempDirsSeen += archives.temps.length;
      for (const problem of archives.problems) violations.push({ round, what: problem });
      const stillThere = archives.temps.filter((t) => tempsBefore.some((b) => t.endsWith(`/${b}`)));
      const archivedThisRound = archives.finals.some((dir) => !finalsBefore.has(dir));
      if (archivedThisRound) {
        for (const dir of stillThere) {
          violations.push({ round, what: `${dir}: left by a crash, still there after an archive` });
        }
      } else totals.tempDirsKeptARound += stillThere.length;
      finalsBefore = new Set(archives.finals);

      const markers = readMarkers(markerDir);
      // The checks see everything so far: report each finding once, in the round it appeared.
      for (const found of checkNoRepeats(ledger, markers, archives.byAction, round, instances)) {
        if (!reported.has(found.what)) violations.push(found);
        reported.add(found.what);
      }
      const journal = existsSync(stateDir) ? checkJournal(stateDir) : { lines: 0, torn: 0 };
      totals.journalLines = journal.lines;
      totals.journalTorn = journal.torn;

      options.onRound?.(
        `round ${round}: kill after ${delayMs} ms${aimed ? ` (aimed +${aimMs} ms after an action)` : ''}; ` +
          `state ${state.kind}, ${archives.verified} archives verified, ${archives.temps.length} temp dirs, ` +
          `${markers.length} action runs, ${ledger.bySeq.size} actions recorded` +
          (violations.some((v) => v.round === round)
            ? `\n  VIOLATION; memgov said:\n${output}`
            : ''),
      );
      if (round % 5 === 0) rotateDir();
    }
  } finally {
    if (running !== null) {
      running.child.kill('SIGKILL');
      await running.exited;
    }
    load.stop();
    agents.stop();
  }
  const markers = readMarkers(markerDir);
  for (const action of ['compact', 'clear', 'archive-terminate']) {
    totals.actionsRecorded[action] = ledger.count(action);
  }
  for (const action of ['compact', 'clear', 'terminate']) {
    totals.actionsRun[action] = markers.filter((m) => m.action === action).length;
  }
  return { rounds, seed, violations, totals };
}

/** The daemon run in this process (runDaemon), as the storage and security tests drive it. */
export interface InProcessDaemon {
  readonly log: ReturnType<typeof memoryLog>;
  /** Records with this message, newest last. */
  named(message: string): LogFields[];
  /** The first record with this message (that `match` accepts), once there is one. */
  first(message: string, match?: (fields: LogFields) => boolean): Promise<LogFields>;
  /** Asks it to stop (as SIGTERM would) and resolves with runDaemon's exit code. */
  stop(): Promise<number>;
  /** runDaemon's exit code, when it returns on its own. */
  readonly done: Promise<number>;
}

/**
 * runDaemon over a fixture cgroup with 100 ms polls and debug logs in memory. `daemon` holds the
 * daemon settings as a config file would (stateFile, agent, archive, journal...).
 */
export function governInProcess(
  cgroupDir: string,
  daemon: Readonly<Record<string, unknown>>,
  policy: Readonly<Record<string, string>> = {},
): InProcessDaemon {
  const config = loadConfig({
    env: {},
    flags: { minPollMs: '100', urgentPollMs: '100', ...policy },
    daemonFlags: { cgroup: cgroupDir, logLevel: 'debug', ...daemon },
  })._unsafeUnwrap();
  const log = memoryLog();
  let stop: (why: string) => void = () => undefined;
  const stopSignal = new Promise<string>((resolve) => (stop = resolve));
  const done = runDaemon({ config, agentCommand: [], log, stopSignal });
  const named = (message: string): LogFields[] =>
    log.records.filter((r) => r.message === message).map((r) => r.fields);
  return {
    log,
    named,
    first: (message, match = () => true) =>
      pollUntil(`a "${message}" record`, 15_000, () => named(message).find(match)),
    stop: () => {
      stop('test over');
      return done;
    },
    done,
  };
}

/**
 * What an in-process hardening test works in: a temp dir, a fixture cgroup at 30%, a marker dir,
 * and the daemons and agents it starts, all stopped and removed by `cleanup` (pass or fail).
 */
export class Scene {
  readonly work: string;
  readonly cgroup: FixtureCgroup;
  readonly markers: string;
  private readonly daemons: InProcessDaemon[] = [];
  private readonly agents: ProcessIdentity[] = [];

  constructor(prefix: string) {
    this.work = mkdtempSync(join(tmpdir(), prefix));
    this.cgroup = fixtureCgroup(join(this.work, 'cgroup'));
    this.setRatio(0.3);
    this.markers = join(this.work, 'markers');
    mkdirSync(this.markers);
  }

  setRatio(ratio: number): void {
    this.cgroup.setUsageBytes(ratio * FIXTURE_LIMIT_BYTES);
  }

  govern(daemon: Readonly<Record<string, unknown>>): InProcessDaemon {
    const running = governInProcess(this.cgroup.dir, daemon);
    this.daemons.push(running);
    return running;
  }

  /** The command transport, each rung leaving a marker in `markers`. */
  commandAgent(): { transport: 'command'; commandArgv: Record<'compact' | 'clear', string[]> } {
    const argv = markerArgv(this.markers);
    return { transport: 'command', commandArgv: { compact: argv, clear: argv } };
  }

  /** Resolves once a rung's command has run (its marker is there). */
  ran(action: 'compact' | 'clear'): Promise<true> {
    return pollUntil(`the ${action} command to run`, 10_000, () =>
      readMarkers(this.markers).some((m) => m.action === action) ? true : undefined,
    );
  }

  /** An idle process standing for the agent, in a process group of its own (tier 3 signals it). */
  startAgent(): ProcessIdentity {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], {
      detached: true,
      stdio: 'ignore',
    });
    const identity = identify(child.pid ?? -1)._unsafeUnwrap();
    this.agents.push(identity);
    return identity;
  }

  /** Compacts at 75%, then goes to 93%: the archive-terminate's logged result. */
  async climbToTier3(daemon: InProcessDaemon): Promise<LogFields> {
    this.setRatio(0.75);
    await daemon.first('action result', (r) => r.action === 'compact');
    this.setRatio(0.93);
    return daemon.first('action result', (r) => r.action === 'archive-terminate');
  }

  /** Stops what was started, runs `beforeRemoving` (unmount what was mounted inside), removes. */
  async cleanup(beforeRemoving: () => void = () => undefined): Promise<void> {
    try {
      await Promise.all(this.daemons.map((d) => d.stop()));
      for (const agent of this.agents) {
        signalVerified(agent, 'SIGKILL', { group: true }).unwrapOr('gone');
      }
      beforeRemoving();
    } finally {
      rmSync(this.work, { recursive: true, force: true });
    }
  }
}
