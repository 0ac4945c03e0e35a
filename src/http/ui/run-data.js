// What a run was given and produced: its input, each task's result, and the exact definition it started with.
import { api } from './api.js';
import { $, el } from './dom.js';

const json = (v) => JSON.stringify(v, null, 2);

/** Fills the input and results panes from a run's view. */
export function renderRunData(view) {
  $('tab-input').textContent = view ? json(view.run.input ?? null) : '';
  const results = (view?.history ?? []).filter((e) => e.type === 'task.succeeded');
  $('tab-results').replaceChildren(
    ...(results.length
      ? results.map((e) =>
          el(
            'div',
            { class: 'result', dataset: { task: e.task, phase: e.phase ?? 'main' } },
            el('h4', {}, `${e.task}${e.phase && e.phase !== 'main' ? ` (${e.phase})` : ''} · attempt ${e.attempt}`),
            el('pre', {}, e.result === undefined ? '(no result)' : json(e.result)),
          ),
        )
      : [el('p', { class: 'muted' }, 'No task has succeeded yet.')]),
  );
}

const loaded = new Map();

/** Loads the definition text a run started with (once per run). */
export async function loadDefinition(runId) {
  const box = $('tab-definition');
  if (!loaded.has(runId)) loaded.set(runId, api(`/api/runs/${encodeURIComponent(runId)}/definition`));
  try {
    const d = await loaded.get(runId);
    box.textContent = d.definition;
    box.title = `${d.sequence} v${d.version}${d.source ? ` from ${d.source}` : ''} · sha256 ${d.definitionHash}`;
  } catch (error) {
    loaded.delete(runId);
    box.textContent = `cannot read the definition: ${error.message}`;
  }
}

/** Shows a sequence's definition (no run selected). */
export function showSequenceDefinition(seq) {
  $('tab-input').textContent = '';
  $('tab-results').replaceChildren();
  $('tab-definition').textContent = seq?.definition ?? '';
}
