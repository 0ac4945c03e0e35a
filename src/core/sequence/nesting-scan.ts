/** Where a scan found the text nested too deeply (1-based). */
export interface TextPosition {
  readonly line: number;
  readonly column: number;
}

const SPACE = 0x20;
const TAB = 0x09;
const CR = 0x0d;
const isBlank = (c: number) => c === SPACE || c === TAB || c === CR;

/**
 * A cheap, linear estimate of how deeply a YAML or JSON text nests, made before the text is parsed: the YAML
 * parser takes seconds on a deeply nested megabyte and its composer recurses. It counts flow brackets (`[`, `{`)
 * outside quoted scalars, comments and block scalars, the indentation levels of block collections, and compact
 * entries (`- - x`). The estimate errs low, never high, on ordinary files; the exact depth is checked after
 * parsing.
 *
 * @returns the position where the estimate first exceeds `max`, or `undefined`.
 */
export function scanNesting(text: string, max: number): TextPosition | undefined {
  const n = text.length;
  const block: number[] = [];
  let flow = 0;
  /** Block levels open when the outermost flow collection started. */
  let flowBase = 0;
  let quote = 0;
  /** While >= 0: the lines of a block scalar (`|`, `>`) indented more than this are its content. */
  let scalarIndent = -1;
  let line = 0;
  let i = n > 0 && text.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (i < n) {
    line++;
    const lineStart = i;
    let end = text.indexOf('\n', i);
    if (end < 0) end = n;
    i = end + 1;
    let p = lineStart;
    let nodeStart = true;
    let compact = 0;
    if (quote !== 0) {
      p = closeQuote(text, p, end, quote);
      if (p < 0) continue;
      quote = 0;
      nodeStart = false;
    } else if (flow === 0) {
      let indent = 0;
      while (lineStart + indent < end && text.charCodeAt(lineStart + indent) === SPACE) indent++;
      let q = lineStart + indent;
      while (q < end && isBlank(text.charCodeAt(q))) q++;
      if (q === end) continue; // blank line
      if (scalarIndent >= 0) {
        if (indent > scalarIndent) continue;
        scalarIndent = -1;
      }
      if (text.charCodeAt(q) === 0x23 /* # */) continue;
      if (indent === 0 && isDocumentMarker(text, lineStart, end)) {
        block.length = 0;
        p = lineStart + 3;
      } else {
        while (block.length > 0 && block[block.length - 1]! >= indent) block.pop();
        block.push(indent);
        if (block.length > max) return { line, column: indent + 1 };
        p = lineStart + indent;
      }
    }
    const lineIndent = block.length > 0 ? block[block.length - 1]! : 0;
    for (; p < end; p++) {
      const c = text.charCodeAt(p);
      if (isBlank(c)) continue;
      if (c === 0x23 /* # */ && (p === lineStart || isBlank(text.charCodeAt(p - 1)))) break;
      if (nodeStart && (c === 0x22 /* " */ || c === 0x27) /* ' */) {
        const closed = closeQuote(text, p + 1, end, c);
        if (closed < 0) {
          quote = c;
          break;
        }
        p = closed - 1;
        nodeStart = false;
        continue;
      }
      if (flow > 0) {
        if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
          flow++;
          if (flowBase + flow > max) return { line, column: p - lineStart + 1 };
          nodeStart = true;
        } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
          flow--;
          nodeStart = false;
        } else {
          nodeStart = c === 0x2c /* , */ || c === 0x3a /* : */ || c === 0x3f /* ? */;
        }
        continue;
      }
      const next = p + 1 < end ? text.charCodeAt(p + 1) : SPACE;
      if (nodeStart) {
        if ((c === 0x2d /* - */ || c === 0x3f /* ? */ || c === 0x3a) /* : */ && isBlank(next)) {
          if (c !== 0x3a && Math.max(0, block.length - 1) + ++compact > max) return { line, column: p - lineStart + 1 };
          continue;
        }
        if (c === 0x5b || c === 0x7b) {
          // The line's block level counts only through its indicators: `key: [` may be a flow list at the top.
          flowBase = Math.max(0, block.length - 1) + compact;
          flow = 1;
          if (flowBase + flow > max) return { line, column: p - lineStart + 1 };
          continue;
        }
        if (c === 0x7c /* | */ || c === 0x3e /* > */) {
          scalarIndent = lineIndent;
          break;
        }
        if (c === 0x26 /* & */ || c === 0x21 /* ! */) {
          while (p + 1 < end && !isBlank(text.charCodeAt(p + 1))) p++;
          continue;
        }
        nodeStart = false;
        continue;
      }
      // Inside a plain scalar of a block: `: ` starts the value of a mapping key.
      if (c === 0x3a && isBlank(next)) nodeStart = true;
    }
  }
  return undefined;
}

/** Index just after the closing quote of a quoted scalar that starts before `from`, or -1 when the line ends first. */
function closeQuote(text: string, from: number, end: number, quote: number): number {
  for (let p = from; p < end; p++) {
    const c = text.charCodeAt(p);
    if (quote === 0x22 && c === 0x5c /* \ */) {
      p++;
      continue;
    }
    if (c !== quote) continue;
    if (quote === 0x27 && p + 1 < end && text.charCodeAt(p + 1) === 0x27) {
      p++;
      continue;
    }
    return p + 1;
  }
  return -1;
}

function isDocumentMarker(text: string, start: number, end: number): boolean {
  const head = text.slice(start, start + 3);
  return (head === '---' || head === '...') && (start + 3 >= end || isBlank(text.charCodeAt(start + 3)));
}
