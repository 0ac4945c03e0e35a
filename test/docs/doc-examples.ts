// Finds the shell examples of lockstep's Markdown docs, so that a test can run each one as written.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A command the docs show.
 * - `command`: a line of a ```sh / ```bash / ```console block, or of an untagged block (lockstep's docs write
 *   transcripts and synopses untagged; a block that is neither commands nor a transcript is tagged ```text);
 * - `transcript`: a `$ ` line of such a block, with the output lines shown after it (`output`);
 * - `inline`: an inline code span that starts with a command (`lockstep …`, `npx lockstep …`, `npm …`, …).
 * Blocks in other languages (ts, python, yaml, text, json) are not commands: their own tests check them.
 */
export interface DocExample {
  readonly file: string;
  /** 1-based line of the command in its file. */
  readonly line: number;
  readonly kind: 'command' | 'transcript' | 'inline';
  /** The command as written, its trailing `# comment` and the `$ ` of a transcript left out. */
  readonly command: string;
  /** The output a transcript shows (may contain `...` lines: any number of lines left out). */
  readonly output?: readonly string[];
}

const SHELL_LANGS = new Set(['', 'sh', 'bash', 'shell', 'console']);
const FENCE = /^(\s*)```\s*([\w-]*)/;
/** What an inline span must start with to be a command (after `NAME=value ` assignments). */
const INLINE_COMMAND =
  /^(?:[A-Z_]+=\S+ )*(?:(?:npx )?lockstep (?:[a-z][\w-]*)|npm (?:ci|test|run)\b|\.ci\/|kafka-configs\.sh |curl |docker )/;

/** `cmd   # why` -> `cmd`; a `#` inside quotes or a word (`$#`, `a#b`) is not a comment. */
export function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i).trimEnd();
  }
  return line.trimEnd();
}

/** Every shell example of one Markdown text. */
export function extractExamples(file: string, text: string): DocExample[] {
  const lines = text.split('\n');
  const out: DocExample[] = [];
  const prose: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (!open) {
      prose.push(lines[i]!);
      continue;
    }
    prose.push('');
    const lang = open[2]!.toLowerCase();
    const body: Array<{ text: string; line: number }> = [];
    for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]!); i++) body.push({ text: lines[i]!.slice(open[1]!.length), line: i + 1 });
    prose.push(...body.map(() => ''), '');
    if (SHELL_LANGS.has(lang)) out.push(...blockExamples(file, body));
  }
  out.push(...inlineExamples(file, prose.join('\n')));
  return out.sort((a, b) => a.line - b.line);
}

function blockExamples(file: string, body: ReadonlyArray<{ text: string; line: number }>): DocExample[] {
  const out: DocExample[] = [];
  if (body.some((l) => l.text.startsWith('$ '))) {
    let current: { line: number; command: string; output: string[] } | undefined;
    const flush = () =>
      current && out.push({ file, line: current.line, kind: 'transcript', command: current.command, output: current.output });
    for (const l of body) {
      if (l.text.startsWith('$ ')) {
        flush();
        current = { line: l.line, command: stripComment(l.text.slice(2)), output: [] };
      } else if (current) current.output.push(l.text.trimEnd());
      else throw new Error(`${file}:${l.line}: a transcript block must start with a "$ " line`);
    }
    flush();
    return out;
  }
  for (let j = 0; j < body.length; j++) {
    let { text } = body[j]!;
    const line = body[j]!.line;
    while (text.endsWith('\\') && j + 1 < body.length) text = `${text.slice(0, -1)}${body[++j]!.text.trimStart()}`;
    const command = stripComment(text).trim();
    if (command) out.push({ file, line, kind: 'command', command });
  }
  return out;
}

function inlineExamples(file: string, prose: string): DocExample[] {
  const out: DocExample[] = [];
  for (const m of prose.matchAll(/(?<!`)`([^`]+)`(?!`)/g)) {
    const command = m[1]!.replace(/\s*\n\s*/g, ' ').trim();
    if (!INLINE_COMMAND.test(command)) continue;
    const line = prose.slice(0, m.index).split('\n').length;
    out.push({ file, line, kind: 'inline', command });
  }
  return out;
}

/** A ```yaml block: a sequence definition, whole or (without `name:`) a fragment of one. */
export interface DocDefinition {
  readonly file: string;
  /** 1-based line of its first line. */
  readonly line: number;
  readonly text: string;
}

/** Every ```yaml / ```yml block of one Markdown text. */
export function extractDefinitions(file: string, text: string): DocDefinition[] {
  const out: DocDefinition[] = [];
  for (const m of text.matchAll(/^```ya?ml\n([\s\S]*?)^```$/gm)) {
    out.push({ file, line: text.slice(0, m.index).split('\n').length + 1, text: m[1]! });
  }
  return out;
}

/** The docs whose examples are checked: README.md and every Markdown file of docs/. */
export function docFiles(root: string): string[] {
  const docs = readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`);
  return ['README.md', ...docs];
}

/** Every shell example of the docs under `root`. */
export function allExamples(root: string): DocExample[] {
  return docFiles(root).flatMap((f) => extractExamples(f, readFileSync(join(root, f), 'utf8')));
}

/** Every ```yaml block of the docs under `root`. */
export function allDefinitions(root: string): DocDefinition[] {
  return docFiles(root).flatMap((f) => extractDefinitions(f, readFileSync(join(root, f), 'utf8')));
}
