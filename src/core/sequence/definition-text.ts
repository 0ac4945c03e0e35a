import type { Document } from 'yaml';
import { isAlias, isCollection, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { MAX_NESTING_DEPTH, nestingMessage, nestingProblem } from '../nesting.js';
import { formatSize, utf8Bytes } from './limits.js';
import { scanNesting } from './nesting-scan.js';
import type { Problem } from './problems.js';
import { describeValue } from './problems.js';

/**
 * Largest sequence definition text lockstep reads, in bytes (UTF-8): 2 MiB, some 30,000 tasks. The YAML parser
 * reads about a megabyte a second, so the cap also bounds how long one file can hold up `validate` or `serve`.
 */
export const MAX_DEFINITION_BYTES = 2 * 1_048_576;

/**
 * Most alias expansions a YAML definition may make (YAML's own guard against "billion laughs" texts, where
 * a few aliases of aliases expand to billions of nodes).
 */
export const MAX_ALIAS_COUNT = 100;

/** The outcome of reading a definition's text: the raw value, or every problem with a line and column. */
export type ParsedText = { success: true; value: unknown } | { success: false; problems: Problem[] };

const at = (pos: { line: number; col: number } | undefined): string => (pos ? `line ${pos.line}, column ${pos.col}` : '(syntax)');
const fail = (path: string, message: string): ParsedText => ({ success: false, problems: [{ path, message }] });

/**
 * Parses YAML or JSON text (JSON is YAML) into a raw value, without ever throwing: syntax errors, texts over
 * {@link MAX_DEFINITION_BYTES}, nesting deeper than {@link MAX_NESTING_DEPTH}, unresolved or self-referring
 * aliases, alias bombs, several documents and texts that are not a mapping are problems with their position.
 */
export function parseDefinitionText(text: string): ParsedText {
  if (typeof text !== 'string') return fail('(file)', `expected the text of a definition, got ${describeValue(text)}`);
  if (text.length > MAX_DEFINITION_BYTES || (text.length * 3 > MAX_DEFINITION_BYTES && utf8Bytes(text) > MAX_DEFINITION_BYTES)) {
    return fail('(file)', `${utf8Bytes(text)} bytes, more than the ${formatSize(MAX_DEFINITION_BYTES)} a definition may have`);
  }
  const lines = new LineCounter();
  const nul = text.indexOf('\u0000');
  if (nul >= 0) return fail(at(positionOf(text, nul)), 'a NUL character: this is not a text file');
  const deep = scanNesting(text, MAX_NESTING_DEPTH);
  if (deep) return fail(`line ${deep.line}, column ${deep.column}`, nestingMessage(MAX_NESTING_DEPTH));
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, lineCounter: lines });
  } catch (error) {
    return fail('(syntax)', `cannot be parsed: ${(error as Error).message}`);
  }
  if (doc.errors.length > 0) {
    return {
      success: false,
      problems: doc.errors.map((e) => ({
        path: at(e.linePos?.[0]),
        message:
          e.code === 'MULTIPLE_DOCS'
            ? 'a second document: a definition is one YAML document (remove the "---" or split the file)'
            : (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, ''),
      })),
    };
  }
  const structural = astProblems(doc, (offset) => at(lines.linePos(offset)));
  if (structural.length > 0) return { success: false, problems: structural };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    const message = (error as Error).message;
    if (/excessive alias count/i.test(message)) {
      return fail('(root)', `aliases expand to more than ${MAX_ALIAS_COUNT} copies of their anchors (an alias bomb)`);
    }
    return fail('(syntax)', `cannot be read: ${message}`);
  }
  const nested = nestingProblem(value);
  if (nested) return { success: false, problems: [nested] };
  if (value === null || value === undefined) return fail('(root)', 'the text is empty: expected a mapping with "name" and "tasks"');
  if (typeof value !== 'object' || Array.isArray(value))
    return fail('(root)', `expected a mapping with "name" and "tasks", got ${describeValue(value)}`);
  return { success: true, value };
}

/**
 * Checks the parsed document before it becomes a value: the exact nesting depth, mapping keys that are lists
 * or mappings, aliases with no anchor before them and aliases inside their own anchor. Recursion stops past
 * the depth limit, so it is safe on any document.
 */
function astProblems(doc: Document.Parsed, where: (offset: number) => string): Problem[] {
  const problems: Problem[] = [];
  const anchors = new Set<string>();
  const open = new Set<string>();
  const offsetOf = (node: unknown): number => (node as { range?: [number, number, number] }).range?.[0] ?? 0;
  const visit = (node: unknown, depth: number): void => {
    if (problems.length > 0 || node === null || node === undefined) return;
    if (isAlias(node)) {
      if (open.has(node.source))
        problems.push({ path: where(offsetOf(node)), message: `alias *${node.source} is inside its own anchor &${node.source} (a cycle)` });
      else if (!anchors.has(node.source))
        problems.push({ path: where(offsetOf(node)), message: `alias *${node.source} has no anchor &${node.source} before it` });
      return;
    }
    if (isPair(node)) {
      if (isCollection(node.key)) {
        problems.push({ path: where(offsetOf(node.key)), message: 'a mapping key must be a plain value, not a list or a mapping' });
        return;
      }
      visit(node.key, depth);
      visit(node.value, depth);
      return;
    }
    const anchor = isScalar(node) || isCollection(node) ? node.anchor : undefined;
    if (isMap(node) || isSeq(node)) {
      if (depth >= MAX_NESTING_DEPTH) {
        problems.push({ path: where(offsetOf(node)), message: nestingMessage(MAX_NESTING_DEPTH) });
        return;
      }
      if (anchor) open.add(anchor);
      for (const item of node.items) visit(item, depth + 1);
      if (anchor) open.delete(anchor);
    }
    if (anchor) anchors.add(anchor);
  };
  visit(doc.contents, 0);
  return problems;
}

/** 1-based line and column of an offset, for problems found before parsing. */
function positionOf(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, col: offset - start + 1 };
}
