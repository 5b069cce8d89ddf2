// The diagrams are generated from the machine, and docs/DESIGN.md's copy must match it.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../machines/config.ts';
import { createGovernorMachine } from '../machines/governor.machine.ts';
import { DEFAULT_RESTART_BUDGET } from '../machines/restart-budget.ts';
import { createSupervisorMachine } from '../machines/supervisor.machine.ts';
import { toGraph, toMermaid } from '../visualizations/diagram.ts';
import { runMain } from './support/cli.ts';

const machine = createGovernorMachine(DEFAULT_POLICY);

describe('memgov diagram', () => {
  it.each([
    ['governor', machine],
    [
      'supervisor',
      createSupervisorMachine({ policy: DEFAULT_POLICY, budget: DEFAULT_RESTART_BUDGET }),
    ],
  ] as const)(
    'docs/DESIGN.md embeds exactly the Mermaid diagram the %s machine generates',
    (name, m) => {
      const readme = readFileSync(new URL('../docs/DESIGN.md', import.meta.url), 'utf8');
      const block = new RegExp(
        `<!-- diagram:${name}:start -->\\s*\`\`\`mermaid\\n([\\s\\S]*?)\`\`\`\\s*<!-- diagram:${name}:end -->`,
      ).exec(readme);
      expect(block, `docs/DESIGN.md lacks the diagram:${name} block`).not.toBeNull();
      expect(
        block?.[1],
        `docs/DESIGN.md ${name} diagram is stale: paste \`memgov diagram --machine ${name}\``,
      ).toBe(toMermaid(m));
    },
  );

  it('lists every state of the three regions; one SAMPLE evaluation, the regions follow it', () => {
    const graph = toGraph(machine);
    expect(graph.states.map((s) => s.id)).toEqual([
      'governor',
      'governor.ladder',
      'governor.ladder.idle',
      'governor.ladder.compacted',
      'governor.ladder.cleared',
      'governor.tier3',
      'governor.tier3.armed',
      'governor.tier3.disarmed',
      'governor.polling',
      'governor.polling.relaxed',
      'governor.polling.fast',
      'governor.polling.urgent',
    ]);
    // decide runs in exactly one place per sample.
    expect(graph.transitions.filter((t) => t.actions.includes('evaluate'))).toEqual([
      {
        source: 'governor',
        target: null,
        event: 'SAMPLE',
        guard: null,
        actions: ['evaluate', 'notify', 'requestAction', 'forwardRequest'],
      },
    ]);
    expect(graph.transitions).toContainEqual({
      source: 'governor.tier3.armed',
      target: 'governor.tier3.disarmed',
      event: 'always',
      guard: 'tier3Disarmed',
      actions: [],
    });
    // Every move between a region's states follows the context, never a SAMPLE guard.
    const moves = graph.transitions.filter((t) => t.target !== null);
    expect(moves).toHaveLength(14);
    expect(moves.every((t) => t.event === 'always' && t.guard !== null)).toBe(true);
  });

  it('prints Mermaid by default and JSON on request, and refuses other formats', async () => {
    const mermaid = await runMain(['diagram']);
    expect(mermaid.stdout.startsWith('stateDiagram-v2\n')).toBe(true);
    const json = await runMain(['diagram', '--format', 'json']);
    expect(JSON.parse(json.stdout)).toEqual(toGraph(machine));
    const bad = await runMain(['diagram', '--format', 'svg']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--format must be mermaid or json (got "svg")');
  });
});
