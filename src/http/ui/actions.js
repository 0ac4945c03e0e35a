// The run actions, each shown as a preview first: Cancel and Resume say what will happen, Rerun lists what is
// reused, run again and what would fire. Mutating calls carry the saved bearer token.
import { api, reportError } from './api.js';
import { $, el, shortId, toast } from './dom.js';

let ctx;
let pending = null;

/** `context`: `{ runId(), view(), reload(runId), open(runId) }`, the page's view of the selected run. */
export function initActions(context) {
  ctx = context;
  $('cancel-run').addEventListener('click', previewCancel);
  $('resume-run').addEventListener('click', previewResume);
  $('confirm-go').addEventListener('click', () => pending?.());
  $('confirm-close').addEventListener('click', closePanels);
  $('rerun-open').addEventListener('click', openRerun);
  $('rerun-close').addEventListener('click', closePanels);
  $('rerun-confirm').addEventListener('click', confirmRerun);
  $('rerun-from').addEventListener('change', (ev) => showPlan(ev.target.value));
}

/** Closes every preview. */
export function closePanels() {
  pending = null;
  $('confirm-panel').hidden = true;
  $('rerun-panel').hidden = true;
  $('rerun-plan').replaceChildren();
}

function confirm(kind, text, label, run) {
  closePanels();
  $('confirm-panel').dataset.action = kind;
  $('confirm-text').textContent = text;
  $('confirm-go').textContent = label;
  $('confirm-go').classList.toggle('danger', kind === 'cancel');
  $('confirm-panel').hidden = false;
  pending = async () => {
    try {
      await run();
    } catch (error) {
      reportError(error);
    }
  };
}

function previewCancel() {
  const view = ctx.view();
  if (!view) return;
  const task = view.state?.task ?? view.run.currentTask;
  const undo = view.tasks.filter((t) => t.status === 'succeeded' && t.compensation).map((t) => t.compensation.id);
  const parts = [
    `Cancel run ${shortId(view.run.runId)}:`,
    view.waiting
      ? `the wait of ${view.waiting.task} ends (nothing runs to stop);`
      : task
        ? `the attempt of ${task} in flight stops;`
        : 'nothing is in flight;',
    undo.length ? `then the compensations ${undo.slice().reverse().join(', ')} run;` : 'no compensation is owed;',
    view.finally.length ? `then the finally tasks ${view.finally.join(', ')} run.` : 'no finally task runs.',
  ];
  const runId = view.run.runId;
  confirm('cancel', parts.join(' '), 'Cancel the run', async () => {
    await api(`/api/runs/${encodeURIComponent(runId)}/cancel`, {
      method: 'POST',
      auth: true,
      body: { reason: 'cancelled from the web page' },
    });
    closePanels();
    toast('cancelling: the task in flight stops, then compensations and finally tasks run');
  });
}

function previewResume() {
  const view = ctx.view();
  if (!view) return;
  const s = view.state;
  const again = s?.task ? `${s.task} runs again as attempt ${(s.attempt ?? 0) + 1}` : 'it continues from its last recorded state';
  const runId = view.run.runId;
  confirm(
    'resume',
    `Resume run ${shortId(runId)} in this process: its process died, so the interrupted attempt is stopped if anything of it is left, and ${again}.`,
    'Resume the run',
    async () => {
      await api(`/api/runs/${encodeURIComponent(runId)}/resume`, { method: 'POST', auth: true, body: {} });
      closePanels();
      toast(`run ${shortId(runId)} resumed: the interrupted attempt runs again`);
      await ctx.reload(runId);
    },
  );
}

function planColumn(title, items, render = (x) => x) {
  return el(
    'div',
    {},
    el('h3', {}, title),
    items.length ? el('ul', {}, ...items.map((i) => el('li', {}, render(i)))) : el('p', { class: 'none' }, 'none'),
  );
}

/** Shows the rerun plan from `from` (or the server's default). */
export async function showPlan(from) {
  const runId = ctx.runId();
  const q = from ? `?from=${encodeURIComponent(from)}` : '';
  const box = $('rerun-plan');
  try {
    const plan = await api(`/api/runs/${encodeURIComponent(runId)}/rerun-plan${q}`);
    if (ctx.runId() !== runId) return;
    $('rerun-from').value = plan.from;
    $('rerun-confirm').disabled = false;
    $('rerun-confirm').textContent = `Rerun from ${plan.from}`;
    const why = new Map(plan.steps.map((s) => [s.taskId, s.reason]));
    const step = (taskId, text) =>
      el(
        'span',
        { class: 'step', dataset: { task: taskId }, title: why.get(taskId) ?? '' },
        text,
        el('span', { class: 'why' }, ` (${why.get(taskId)})`),
      );
    box.replaceChildren(
      ...(plan.requested
        ? [
            el(
              'p',
              { class: 'note moved', id: 'rerun-moved' },
              `Starts at ${plan.from}, not ${plan.requested}: a task before ${plan.requested} was undone by its compensation in that run, so it runs again.`,
            ),
          ]
        : []),
      planColumn('Reused (not run again)', plan.reused, (r) => step(r.taskId, r.taskId)),
      planColumn('Run again', plan.rerun, (t) => step(t, t)),
      planColumn('Compensations that would fire', plan.compensations, (c) => `${c.id}${c.reused ? ' (of a reused task)' : ''}`),
      planColumn('Cleanups (finally, always run)', plan.finally),
      el('p', { class: 'note' }, 'Compensations fire, in this order, only if a later task fails or the run is cancelled or times out.'),
    );
  } catch (error) {
    $('rerun-confirm').disabled = true;
    box.replaceChildren(el('p', { class: 'none' }, error.message));
  }
}

/** Opens the rerun preview, from `from` when given (a task picked on the timeline). */
export function openRerun(from) {
  const view = ctx.view();
  if (!view) return;
  closePanels();
  $('rerun-from').replaceChildren(...view.tasks.map((t) => el('option', { value: t.id }, t.id)));
  $('rerun-panel').hidden = false;
  void showPlan(typeof from === 'string' ? from : undefined);
}

async function confirmRerun() {
  const from = $('rerun-from').value;
  try {
    const res = await api(`/api/runs/${encodeURIComponent(ctx.runId())}/rerun`, { method: 'POST', auth: true, body: { from } });
    toast(`run ${shortId(res.runId)} reruns ${shortId(res.rerunOf)} from ${from}`);
    closePanels();
    ctx.open(res.runId);
  } catch (error) {
    reportError(error);
  }
}
