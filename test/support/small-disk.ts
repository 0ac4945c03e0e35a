import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A real, small file system: a tmpfs of `size` (e.g. `2m`) that fills up with ENOSPC and can be made read-only. */
export interface SmallDisk {
  readonly dir: string;
  /** Remounts it read-only (EROFS for every write) or read-write again. */
  remount(mode: 'ro' | 'rw'): void;
  unmount(): void;
}

/**
 * Mounts a tmpfs for a test. Needs the right to mount (root, CAP_SYS_ADMIN): a test of a full or read-only disk
 * fails, rather than pretends, where it cannot have one.
 */
export function smallDisk(size: string): SmallDisk {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`cannot mount a ${size} tmpfs for a full-disk test (needs root or CAP_SYS_ADMIN): ${(error as Error).message}`);
  }
  return {
    dir,
    remount: (mode) => execFileSync('mount', ['-o', `remount,${mode}`, dir], { stdio: 'pipe' }),
    unmount: () => {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
