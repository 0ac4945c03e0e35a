import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteRunStore } from '../../../src/adapters/sqlite/sqlite-run-store.js';
import { ErrorCode } from '../../../src/core/errors.js';
import { record, started, taskStarted, taskSucceeded } from '../../contract/run-store.contract.js';
import type { SmallDisk } from '../../support/small-disk.js';
import { smallDisk } from '../../support/small-disk.js';

/** Fills the disk with one file, written until ENOSPC. */
function fill(path: string): void {
  const chunk = Buffer.alloc(64 * 1024);
  const parts: Buffer[] = [];
  for (let i = 0; i < 256; i++) parts.push(chunk);
  try {
    writeFileSync(path, Buffer.concat(parts));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  }
}

describe('SqliteRunStore on a disk that fills up or turns read-only', () => {
  const disks: SmallDisk[] = [];
  afterAll(() => {
    for (const d of disks) d.unmount();
  });

  it('rejects a write on a full disk with STORE_FULL, non-retriable, keeps what was committed, and writes again once space is back', async () => {
    const disk = smallDisk('2m');
    disks.push(disk);
    const path = join(disk.dir, 'lockstep.db');
    const store = SqliteRunStore.open(path);
    const r = record();
    await store.create(r, [started(r.runId, r.createdAt), taskStarted(r.runId, r.createdAt + 1)]);
    const filler = join(disk.dir, 'filler');
    fill(filler);

    const big = { blob: 'x'.repeat(512 * 1024) };
    const error = await store.append(r.runId, [taskSucceeded(r.runId, r.createdAt + 2, 'a', big)]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({
      code: ErrorCode.storeFull,
      retriable: false,
      message: `run store ${path}: committing run history failed: database or disk is full (SQLITE_FULL)`,
    });
    expect((await store.get(r.runId))!.history.map((e) => e.type)).toEqual(['run.started', 'task.started']);

    rmSync(filler);
    await store.append(r.runId, [taskSucceeded(r.runId, r.createdAt + 2, 'a', big)]);
    expect((await store.get(r.runId))!.history.map((e) => e.type)).toEqual(['run.started', 'task.started', 'task.succeeded']);
    await store.close();
  });

  it('opens read-only on a read-only file system: reads work, a writer is refused with STORE_READ_ONLY', async () => {
    const disk = smallDisk('2m');
    disks.push(disk);
    const path = join(disk.dir, 'lockstep.db');
    const writer = SqliteRunStore.open(path);
    const r = record();
    await writer.create(r, [started(r.runId, r.createdAt)]);
    await writer.close();
    disk.remount('ro');

    const reader = SqliteRunStore.open(path, { readOnly: true });
    expect((await reader.list()).map((x) => x.runId)).toEqual([r.runId]);
    expect((await reader.get(r.runId))!.history).toHaveLength(1);
    await expect(reader.append(r.runId, [taskStarted(r.runId, r.createdAt + 1)])).rejects.toMatchObject({ code: ErrorCode.storeReadOnly });
    await reader.close();

    expect(() => SqliteRunStore.open(path)).toThrow(expect.objectContaining({ code: ErrorCode.storeReadOnly }));
    expect(() => SqliteRunStore.open(join(disk.dir, 'other.db'))).toThrow(expect.objectContaining({ code: ErrorCode.storeReadOnly }));
  });
});
