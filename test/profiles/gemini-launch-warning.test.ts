// Gemini's terminal UI starts non-interactive when `is-in-ci` sees a CI variable (CI's own
// `CI=true` kept the real CLI from ever drawing its input box in a tmux pane). memgov cannot
// govern it then, and says so as it launches it; it leaves the agent's environment alone.
import { describe, expect, it } from 'vitest';
import { geminiCiVariables } from '../../agents/gemini.ts';
import { profileFor } from '../../agents/index.ts';
import { defaultDaemonConfig } from '../../machines/daemon-config.ts';
import { pollUntil } from '../support/daemon.ts';
import { tmuxLaunchBench } from '../support/tmux-launch.ts';

const bench = tmuxLaunchBench('gemini-ci');
const gemini = profileFor({ ...defaultDaemonConfig(bench.work).agent, profile: 'gemini' });

/** `sleep` launched in tmux under the gemini profile with `env`; the warnings it logged. */
async function launchUnderGemini(env: Record<string, string>) {
  const { named } = bench.launch({ profile: gemini, env });
  await pollUntil('the agent started', 5_000, () => named('agent started')[0]);
  return named('agent may not be governable');
}

describe('gemini under a CI variable', () => {
  it('names CI, CONTINUOUS_INTEGRATION and CI_ names; CI=0 and CI=false do not count', () => {
    expect(geminiCiVariables({ CI: 'true', CI_JOB_ID: '7', CONTINUOUS_INTEGRATION: '1' })).toEqual([
      'CI',
      'CI_JOB_ID',
      'CONTINUOUS_INTEGRATION',
    ]);
    expect(geminiCiVariables({ CI: 'false', HOME: '/h', CIRCLE: 'x' })).toEqual([]);
    expect(geminiCiVariables({ CI: '0', CI_TOKEN: 't' })).toEqual(['CI_TOKEN']);
  });

  it('is warned of at launch with the command that avoids it', async () => {
    const warnings = await launchUnderGemini({ CI: 'true', CI_JOB_ID: '7' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.detail).toContain('`env -u CI -u CI_JOB_ID gemini ...`');
  });

  it('is not warned of without one', async () => {
    expect(await launchUnderGemini({ CI: 'false', HOME: bench.work })).toEqual([]);
  });
});
