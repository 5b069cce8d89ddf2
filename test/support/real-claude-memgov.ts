// memgov's runDaemon (over a fixture cgroup) governing the real Claude Code CLI in tmux, offline
// against the fake Anthropic API: the shared set-up of the test/real-agents/ memgov tests.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startFakeAnthropic, type FakeAnthropic, lastUserText } from './fake-anthropic.ts';
import { startRealClaude, type RealClaude, type RealClaudeOptions } from './real-claude.ts';
import { startFixtureDaemon, type FixtureDaemon } from './fixture-daemon.ts';
import { pollUntil } from './daemon.ts';

/** What a test started, ended in reverse order by `endAll` (call it in afterEach). */
const cleanups: (() => Promise<void> | void)[] = [];

export function onCleanup(cleanup: () => Promise<void> | void): void {
  cleanups.push(cleanup);
}

export async function endAll(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}

/** Sends `prompt` once claude is idle; returns the model request that carried it (unique prompts). */
export async function sendTurn(claude: RealClaude, fake: FakeAnthropic, prompt: string) {
  await claude.waitForIdle(30_000);
  await claude.sendLine(prompt);
  return pollUntil(
    `"${prompt}" at the fake`,
    20_000,
    () => fake.messageRequests().find((r) => lastUserText(r.body).includes(prompt)),
    () => `pane:\n${claude.capturePane()}`,
  );
}

/** The real claude (as the pane's process, or started by a shell), after `turns` exchanges. */
export async function realClaudeWithHistory(
  turns: number,
  options: Omit<RealClaudeOptions, 'baseUrl'> = {},
): Promise<{ claude: RealClaude; fake: FakeAnthropic }> {
  const fake = await startFakeAnthropic();
  onCleanup(() => fake.close());
  const claude = startRealClaude({ ...options, baseUrl: fake.baseUrl });
  onCleanup(() => claude.stop());
  for (let turn = 1; turn <= turns; turn += 1) await sendTurn(claude, fake, `PROMPT-${turn} hello`);
  await claude.waitForIdle(30_000);
  return { claude, fake };
}

/**
 * runDaemon attached to claude's pane at a ratio over 70%: by claude's pid (`attach: 'pid'`), or
 * by the pane alone, as for a shell in the pane.
 */
export function governClaude(
  claude: RealClaude,
  agent: Record<string, unknown> = {},
  attach: 'pid' | 'pane' = 'pid',
  realCgroup?: string,
): FixtureDaemon {
  const pid = attach === 'pid' ? { pid: claude.findClaudePid() ?? -1 } : {};
  const daemon = startFixtureDaemon({
    initialRatio: 0.75,
    ...(realCgroup === undefined ? {} : { realCgroup }),
    env: { HOME: claude.home },
    daemon: {
      agent: {
        profile: 'claude-code',
        transport: 'tmux',
        tmuxSocket: claude.socket,
        tmuxTarget: 'main:0.0',
        ...pid,
        ...agent,
      },
    },
  });
  onCleanup(async () => void (await daemon.stop()));
  return daemon;
}

export const resultOf = (action: string) => (fields: Readonly<Record<string, unknown>>) =>
  fields.action === action;

/** Every regular file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** The files of an archive directory (as an action's detail names it) whose text holds `text`. */
export function archivedFilesHolding(archiveDir: string, text: string): string[] {
  return filesUnder(archiveDir).filter((path) => readFileSync(path, 'utf8').includes(text));
}

/** The archive directory an action's detail names (`... to /dir/...`). */
export function archiveDirOf(detail: unknown): string {
  const match = / to (\/\S+?)(?:;| \(|$)/.exec(String(detail));
  if (match?.[1] === undefined) throw new Error(`no archive directory in ${String(detail)}`);
  return match[1];
}

/**
 * Turns, each prompt typed while the previous answer still streams (claude queues it), until
 * memgov decides an action; returns that decision. The test types only into a busy claude and
 * memgov only into an idle one, so their keystrokes never meet: a claude left idle between turns
 * grows for seconds after its answer ended (measured: 295 -> 396 MiB in 3 s), so memgov may
 * decide then, and a prompt typed into the idle pane would collide with its /compact. The fake's
 * answers must stream slowly enough (seconds) for the next prompt to be typed meanwhile.
 */
export async function growWhileBusy(
  claude: RealClaude,
  fake: FakeAnthropic,
  daemon: FixtureDaemon,
  options: { maxTurns: number; prefix: string },
): Promise<{ decision: Readonly<Record<string, unknown>>; turns: number }> {
  const seen = daemon.named('decision').length;
  const decided = () =>
    daemon
      .named('decision')
      .slice(seen)
      .find((f) => f.action !== null);
  let request = await sendTurn(claude, fake, `${options.prefix}-1 big reply please`);
  let turns = 1;
  while (turns < options.maxTurns && decided() === undefined) {
    if (request.answeredAtMs !== null)
      throw new Error(`answer ${turns} ended before the next prompt: stream the replies slower`);
    turns += 1;
    const prompt = `${options.prefix}-${turns} big reply please`;
    await claude.sendLine(prompt);
    request = await pollUntil(`"${prompt}" at the fake`, 60_000, () =>
      fake.messageRequests().find((r) => lastUserText(r.body).includes(prompt)),
    );
  }
  const decision = await daemon.waitFor('decision', (f) => f.action !== null, 60_000);
  return { decision, turns };
}
