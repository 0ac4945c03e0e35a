// The registry resolves new runs by name and version, and runs in flight by the hash of their exact definition.
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/core/errors.js';
import { sha256Hex } from '../../../src/core/hash.js';
import { ProgramRegistry } from '../../../src/core/run/registry.js';
import { sequence } from '../../../src/core/sequence/builder.js';
import { sequenceText } from '../../../src/core/sequence/sequence-text.js';
import { loadSequenceText } from '../../../src/core/sequence/validate.js';

const v1 = 'name: s\nversion: 1\ntasks:\n  - id: a\n    run: echo one\n';
const v1edited = 'name: s\nversion: 1\ntasks:\n  - id: a\n    run: echo two\n  - id: b\n    run: echo three\n';
const fileEntry = (registry: ProgramRegistry, text: string) =>
  registry.register(loadSequenceText(text), { definition: text, hash: sha256Hex(text), source: 's.yaml' });

describe('ProgramRegistry', () => {
  it('keeps a definition replaced under the same version by its hash, and resolves the name to the new one', () => {
    const registry = new ProgramRegistry();
    const first = fileEntry(registry, v1);
    const second = fileEntry(registry, v1edited);
    expect(registry.resolve('s', '1')).toBe(second);
    expect(registry.resolve('s')).toBe(second);
    expect(registry.byHash(first.hash)).toBe(first);
    expect(registry.resolveRef({ sequence: 's', version: '1', definitionHash: first.hash })).toBe(first);
    expect(registry.resolveRef({ sequence: 's', version: '1' })).toBe(second);
    expect(registry.definitions().map((d) => d.hash)).toEqual([first.hash, second.hash]);
  });

  it('never resolves a hash it does not know to another definition of the version', () => {
    const registry = new ProgramRegistry();
    fileEntry(registry, v1edited);
    const hash = sha256Hex(v1);
    expect(() => registry.resolveRef({ sequence: 's', version: '1', definitionHash: hash })).toThrow(
      expect.objectContaining({
        code: ErrorCode.unknownSequence,
        message: `definition sha256:${hash} of sequence "s" version 1 is unknown: not registered here, and not found where definitions are published`,
      }),
    );
  });

  it('pins a definition by its hash without changing what names resolve to', () => {
    const registry = new ProgramRegistry();
    const current = fileEntry(registry, v1edited);
    const pinned = registry.pin(sha256Hex(v1), v1);
    expect(pinned.program.sequence.tasks.map((t) => t.id)).toEqual(['a']);
    expect(registry.resolve('s')).toBe(current);
    expect(registry.names()).toEqual(['s']);
    expect(registry.definitions()).toEqual([current]);
    expect(registry.pin(sha256Hex(v1), v1)).toBe(pinned);
    expect(() => registry.pin(sha256Hex(v1edited).replace(/./, '0'), v1edited)).toThrow(/its text has sha256/);
  });

  it('fetches the definitions it does not know, and says why one found cannot be used', async () => {
    const registry = new ProgramRegistry();
    const broken = 'name: s\ntasks: []\n';
    const asked: string[][] = [];
    const lookup = async (hashes: readonly string[]) => {
      asked.push([...hashes]);
      return new Map([
        [sha256Hex(v1), v1],
        [sha256Hex(broken), broken],
      ]);
    };
    const missing = await registry.fetch([sha256Hex(v1), sha256Hex(v1), sha256Hex(broken), 'f'.repeat(64)], lookup);
    expect(asked).toEqual([[sha256Hex(v1), sha256Hex(broken), 'f'.repeat(64)]]);
    expect([...missing.keys()]).toEqual([sha256Hex(broken), 'f'.repeat(64)]);
    expect(registry.byHash(sha256Hex(v1))?.program.sequence.name).toBe('s');
    expect(() => registry.resolveRef({ sequence: 's', definitionHash: sha256Hex(broken) })).toThrow(
      /cannot be used: .*tasks: expected at least one task/,
    );
    expect(await registry.fetch([sha256Hex(v1)], lookup)).toEqual(new Map());
    expect(asked).toHaveLength(1);
  });

  it('registers a sequence made in code under the hash of its structure', () => {
    const registry = new ProgramRegistry();
    const made = sequence('code')
      .then('a', async () => 1, { queue: 'q' })
      .build();
    const entry = registry.registerSequence(made);
    expect(entry.definition).toBe(sequenceText(made));
    expect(entry.hash).toBe(sha256Hex(sequenceText(made)));
    expect(entry.program.sequence).toBe(made);
  });
});
