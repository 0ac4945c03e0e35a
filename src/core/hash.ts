import { createHash } from 'node:crypto';

/**
 * FNV-1a over a string's UTF-16 code units: small, stable and fast. Deterministic jitter (per idempotency key)
 * and seeded path picking both derive their numbers from it.
 */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** sha256 of a text's UTF-8 bytes, in hex: the hash of definitions and of dead-lettered record bodies. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
