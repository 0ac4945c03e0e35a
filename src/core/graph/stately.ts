import type { AnyStateNode, AnyTransitionDefinition } from 'xstate';
import type { GraphableMachine } from './build-graph.js';
import { namedReference } from './build-graph.js';
import { describeTransition } from './edge-labels.js';

/** A guard or action referenced by name, with its parameters when they are plain data. */
export type StatelyReference = string | { readonly type: string; readonly params: Readonly<Record<string, unknown>> };

/** One transition of a {@link StatelyStateConfig}. */
export interface StatelyTransition {
  /** An absolute target such as `#run.main.count`. */
  readonly target: string;
  readonly guard?: StatelyReference;
  readonly actions?: readonly StatelyReference[];
  readonly reenter?: true;
  /** What the transition means, e.g. `failed (retry)`. */
  readonly description: string;
}

/** One state of a {@link StatelyMachineConfig}: an XState v5 state config as plain JSON. */
export interface StatelyStateConfig {
  readonly type?: 'final';
  readonly initial?: string;
  readonly entry?: readonly StatelyReference[];
  readonly exit?: readonly StatelyReference[];
  readonly on?: Readonly<Record<string, readonly StatelyTransition[]>>;
  readonly always?: readonly StatelyTransition[];
  readonly states?: Readonly<Record<string, StatelyStateConfig>>;
}

/** An XState v5 machine config as plain JSON: what Stately's editor and `createMachine` accept. */
export interface StatelyMachineConfig extends StatelyStateConfig {
  readonly id: string;
  readonly description?: string;
}

/** Functions cannot be serialised: a reference keeps its `type` name and its params only if they are data. */
function reference(ref: unknown): StatelyReference {
  const named = namedReference(ref);
  return named.params ? { type: named.type, params: named.params } : named.type;
}

function transitions(node: AnyStateNode, event: string | null, list: readonly AnyTransitionDefinition[]): StatelyTransition[] {
  const siblingGuards = list.map((t) => (t.guard ? namedReference(t.guard) : undefined));
  return list.map((t, index) => {
    const guard = siblingGuards[index];
    const { label } = describeTransition({ event, actions: t.actions, siblingGuards, ...(guard ? { guard } : {}) });
    const target = (t.target?.[0] as AnyStateNode | undefined) ?? node;
    return {
      target: `#${target.id}`,
      ...(t.guard ? { guard: reference(t.guard) } : {}),
      ...(t.actions.length > 0 ? { actions: t.actions.map(reference) } : {}),
      ...(t.reenter ? { reenter: true as const } : {}),
      description: label,
    };
  });
}

function stateConfig(node: AnyStateNode): StatelyStateConfig {
  const kids = Object.entries(node.states as Record<string, AnyStateNode>);
  const on = Object.fromEntries([...node.transitions.entries()].map(([event, list]) => [event, transitions(node, event, list)]));
  const initial = node.type === 'compound' ? (node.initial.target[0] as AnyStateNode | undefined) : undefined;
  return {
    ...(node.type === 'final' ? { type: 'final' as const } : {}),
    ...(initial ? { initial: initial.key } : {}),
    ...(node.entry.length > 0 ? { entry: node.entry.map(reference) } : {}),
    ...(node.exit.length > 0 ? { exit: node.exit.map(reference) } : {}),
    ...(Object.keys(on).length > 0 ? { on } : {}),
    ...(node.always?.length ? { always: transitions(node, null, node.always) } : {}),
    ...(kids.length > 0 ? { states: Object.fromEntries(kids.map(([key, child]) => [key, stateConfig(child)])) } : {}),
  };
}

/**
 * The machine's config as plain JSON that Stately's tools (and XState's `createMachine`) can open:
 * `id`, `initial`, `states`, `on`, `always`, `type`, `entry`, `exit`, with guards and actions
 * referenced by name (`{ type, params }` when their params are data). Targets are absolute
 * (`#run.main.count`); each transition's `description` says what it means.
 */
export function toStatelyConfig(machine: GraphableMachine, options: { description?: string } = {}): StatelyMachineConfig {
  return {
    id: machine.id,
    ...(options.description !== undefined ? { description: options.description } : {}),
    ...stateConfig(machine.root as AnyStateNode),
  };
}

/** {@link toStatelyConfig} as indented JSON text. */
export function toStatelyJson(machine: GraphableMachine, options: { description?: string } = {}): string {
  return JSON.stringify(toStatelyConfig(machine, options), null, 2);
}
