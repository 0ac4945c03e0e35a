// A worker that takes over a queue's partition from an uncommitted position is delivered dispatches its runs are
// past: a dispatch followed by a later one of its run in the same batch is acknowledged without running, so a
// redelivered task never runs alongside the next task of its run. One that is already running when a later dispatch
// of its run arrives is stopped, and the later one starts once it has ended.
import { describe, expect, it } from 'vitest';
import { MemoryTransport } from '../../src/adapters/memory/memory-transport.js';
import { topicNames } from '../../src/core/protocol/envelope.js';
import type { ConsumedMessage, TopicMessage } from '../../src/ports/transport.js';
import { envelope } from '../../src/runtime/messages.js';
import { systemClock } from '../../src/runtime/system-clock.js';
import { type DispatchedTask, startWorker } from '../../src/runtime/worker.js';

const topics = topicNames('superseded');

const dispatch = (runId: string, taskId: string, attempt = 1): TopicMessage => ({
  topic: topics.commands('default'),
  key: runId,
  value: envelope(
    {
      type: 'task.dispatch',
      runId,
      taskId,
      attempt,
      payload: {
        sequence: 'five',
        version: '1',
        phase: 'main',
        idempotencyKey: `${runId}:${taskId}:${attempt}`,
        queue: 'default',
        input: {},
        results: {},
      },
    },
    Date.now(),
  ),
});

/** The events the workers report, as an observer of the events topic sees them. */
async function observeEvents(transport: MemoryTransport): Promise<ConsumedMessage[]> {
  const events: ConsumedMessage[] = [];
  await transport.subscribe({ topic: topics.events, group: 'observer' }, async (batch) => {
    events.push(...batch);
    return [];
  });
  return events;
}

const worker = (transport: MemoryTransport, execute: (task: DispatchedTask, signal: AbortSignal) => Promise<unknown>) =>
  startWorker({ transport, queue: 'default', clock: systemClock, topicPrefix: 'superseded', execute, stopStaleAttempts: true });

describe('worker: superseded dispatches', () => {
  it('runs only the last dispatch of each run in a batch, and reports only its outcome', async () => {
    const transport = new MemoryTransport();
    // Published before the worker joins: the backlog reaches it as one batch, as a taken-over position does.
    await transport.publish([dispatch('r1', 't2'), dispatch('r2', 't1'), dispatch('r1', 't3'), dispatch('r2', 't2', 2)]);
    const events = await observeEvents(transport);
    const ran: string[] = [];
    const running = await worker(transport, async (task: DispatchedTask) => {
      ran.push(`${task.runId}:${task.taskId}#${task.attempt}`);
      return { ok: true };
    });
    await expect.poll(() => events.length).toBe(2);
    expect(ran.sort()).toEqual(['r1:t3#1', 'r2:t2#2']);
    expect(events.map((e) => `${e.value?.runId}:${(e.value as { taskId?: string } | null)?.taskId}:${e.value?.type}`).sort()).toEqual([
      'r1:t3:task.succeeded',
      'r2:t2:task.succeeded',
    ]);
    expect(running.stats).toMatchObject({ started: 2, succeeded: 2, duplicates: 2 });
    await running.close();
    await transport.close();
  });

  it('runs dispatches of one run that come in separate batches, each in turn', async () => {
    const transport = new MemoryTransport();
    const ran: string[] = [];
    const running = await worker(transport, async (task: DispatchedTask) => {
      ran.push(`${task.runId}:${task.taskId}`);
      return {};
    });
    await transport.publish([dispatch('r1', 't1')]);
    await expect.poll(() => ran).toEqual(['r1:t1']);
    await transport.publish([dispatch('r1', 't2')]);
    await expect.poll(() => ran).toEqual(['r1:t1', 'r1:t2']);
    expect(running.stats.duplicates).toBe(0);
    await running.close();
    await transport.close();
  });

  it('stops a stale attempt still running when a later dispatch of its run arrives, then runs the later one', async () => {
    const transport = new MemoryTransport();
    const events = await observeEvents(transport);
    const log: string[] = [];
    const running = await worker(transport, async (task: DispatchedTask, signal: AbortSignal) => {
      const name = `${task.runId}:${task.taskId}`;
      log.push(`start ${name}`);
      if (task.taskId === 't3') {
        // A redelivered attempt that runs until it is stopped, and takes a moment to end after that.
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => setTimeout(resolve, 50)));
        log.push(`end ${name}`);
        throw new Error('stopped');
      }
      log.push(`end ${name}`);
      return {};
    });
    await transport.publish([dispatch('r1', 't3')]);
    await expect.poll(() => log).toEqual(['start r1:t3']);
    await transport.publish([dispatch('r1', 't4')]);
    await expect.poll(() => log).toEqual(['start r1:t3', 'end r1:t3', 'start r1:t4', 'end r1:t4']);
    // Only the current attempt's outcome is reported.
    await expect
      .poll(() => events.map((e) => `${(e.value as { taskId?: string } | null)?.taskId}:${e.value?.type}`))
      .toEqual(['t4:task.succeeded']);
    expect(running.stats).toMatchObject({ started: 2, succeeded: 1, duplicates: 1 });
    await running.close();
    await transport.close();
  });
});
