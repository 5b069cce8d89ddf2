// Diagrams generated from a machine definition, never drawn by hand: a graph model (for
// `--format json`) and Mermaid `stateDiagram-v2` text (for the README). Pure.
import type { AnyStateMachine, AnyStateNode } from 'xstate';

export interface DiagramState {
  readonly id: string;
  readonly key: string;
  readonly type: string;
  readonly parent: string | null;
  readonly initial: string | null;
  readonly description: string | null;
}

export interface DiagramTransition {
  readonly source: string;
  /** null for a transition that only runs actions (no state change). */
  readonly target: string | null;
  /** The event type, or `always` for an eventless transition. */
  readonly event: string;
  readonly guard: string | null;
  readonly actions: readonly string[];
}

export interface DiagramGraph {
  readonly machine: string;
  readonly states: readonly DiagramState[];
  readonly transitions: readonly DiagramTransition[];
}

function nameOf(item: unknown): string {
  if (typeof item === 'string') return item;
  if (typeof item === 'function') return item.name || 'inline';
  if (item !== null && typeof item === 'object' && 'type' in item) return String(item.type);
  return 'inline';
}

function walk(
  node: AnyStateNode,
  out: { states: DiagramState[]; transitions: DiagramTransition[] },
): void {
  const initialTarget = node.initial?.target[0] as AnyStateNode | undefined;
  out.states.push({
    id: node.id,
    key: node.key,
    type: node.type,
    parent: node.parent?.id ?? null,
    initial: initialTarget?.id ?? null,
    description: node.description ?? null,
  });
  const eventless = (node.always ?? []).map((definition) => ['always', [definition]] as const);
  for (const [event, definitions] of [...node.transitions, ...eventless]) {
    for (const definition of definitions) {
      const target = definition.target?.[0] as AnyStateNode | undefined;
      out.transitions.push({
        source: node.id,
        target: target?.id ?? null,
        event,
        guard: definition.guard === undefined ? null : nameOf(definition.guard),
        actions: definition.actions.map(nameOf),
      });
    }
  }
  for (const child of Object.values(node.states)) walk(child, out);
}

/** The machine's states (depth first, document order) and transitions. */
export function toGraph(machine: AnyStateMachine): DiagramGraph {
  const out = { states: [] as DiagramState[], transitions: [] as DiagramTransition[] };
  walk(machine.root, out);
  return { machine: machine.id, ...out };
}

function mermaidId(id: string): string {
  return id.replace(/[^A-Za-z0-9_]/g, '_');
}

function label(t: DiagramTransition): string {
  const guard = t.guard === null ? '' : ` [${t.guard}]`;
  const actions = t.actions.length === 0 ? '' : ` / ${t.actions.join(', ')}`;
  return `${t.event}${guard}${actions}`;
}

/**
 * Mermaid stateDiagram-v2 text. Parallel regions are separated by `--`; a transition without a
 * target shows as a note on its state, since Mermaid has no self-loop without re-entry.
 */
export function toMermaid(machine: AnyStateMachine): string {
  const graph = toGraph(machine);
  const lines = ['stateDiagram-v2'];
  const childrenOf = (id: string): DiagramState[] => graph.states.filter((s) => s.parent === id);
  const emit = (state: DiagramState, depth: number): void => {
    const pad = '  '.repeat(depth);
    const children = childrenOf(state.id);
    if (children.length > 0) {
      lines.push(`${pad}state "${state.key}" as ${mermaidId(state.id)}`);
      lines.push(`${pad}state ${mermaidId(state.id)} {`);
      if (state.initial !== null) lines.push(`${pad}  [*] --> ${mermaidId(state.initial)}`);
      children.forEach((child, index) => {
        if (state.type === 'parallel' && index > 0) lines.push(`${pad}  --`);
        emit(child, depth + 1);
      });
      lines.push(`${pad}}`);
    } else {
      lines.push(`${pad}state "${state.key}" as ${mermaidId(state.id)}`);
    }
    for (const t of graph.transitions.filter((tr) => tr.source === state.id)) {
      if (t.target === null) {
        lines.push(`${pad}note right of ${mermaidId(state.id)} : ${label(t)}`);
      } else {
        lines.push(`${pad}${mermaidId(t.source)} --> ${mermaidId(t.target)} : ${label(t)}`);
      }
    }
  };
  const root = graph.states[0];
  if (root !== undefined) emit(root, 1);
  return `${lines.join('\n')}\n`;
}
