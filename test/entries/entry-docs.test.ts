import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/cli.js';

/** The sources of the entry points in package.json `exports`. */
const ENTRIES = ['src/index.ts', 'src/kafka.ts', 'src/sqlite.ts', 'src/testing/index.ts'];

const parsed = new Map<string, ts.SourceFile>();
function source(file: string): ts.SourceFile {
  let sf = parsed.get(file);
  if (!sf) {
    sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    parsed.set(file, sf);
  }
  return sf;
}

const target = (from: string, specifier: string) => join(dirname(from), specifier.replace(/\.js$/, '.ts'));
const documented = (node: ts.Node) =>
  ts.getJSDocCommentsAndTags(node).some((doc) => ts.isJSDoc(doc) && ts.getTextOfJSDocComment(doc.comment)?.trim());

function declaredName(statement: ts.Statement): string[] {
  if (ts.isVariableStatement(statement)) return statement.declarationList.declarations.map((d) => d.name.getText());
  if (
    (ts.isFunctionDeclaration(statement) ||
      ts.isClassDeclaration(statement) ||
      ts.isInterfaceDeclaration(statement) ||
      ts.isTypeAliasDeclaration(statement) ||
      ts.isEnumDeclaration(statement)) &&
    statement.name
  )
    return [statement.name.text];
  return [];
}

/**
 * Follows `name` from `file` through re-exports and imports to the statements that declare it, and says whether
 * one of them has a TSDoc comment: where the declaration is, or `undefined` when it was not found.
 */
function findDeclaration(file: string, name: string, depth = 0): { file: string; documented: boolean } | undefined {
  if (depth > 10) return undefined;
  const sf = source(file);
  const declarations = sf.statements.filter((s) => declaredName(s).includes(name));
  if (declarations.length > 0) {
    return { file, documented: declarations.some((s) => documented(ts.isVariableStatement(s) ? s.declarationList.declarations[0]! : s)) };
  }
  for (const s of sf.statements) {
    if (ts.isExportDeclaration(s) && s.exportClause && ts.isNamedExports(s.exportClause)) {
      const element = s.exportClause.elements.find((e) => e.name.text === name);
      if (!element) continue;
      const original = element.propertyName?.text ?? name;
      if (s.moduleSpecifier && ts.isStringLiteral(s.moduleSpecifier))
        return findDeclaration(target(file, s.moduleSpecifier.text), original, depth + 1);
      if (original !== name) return findDeclaration(file, original, depth + 1);
    }
    if (
      ts.isImportDeclaration(s) &&
      s.importClause?.namedBindings &&
      ts.isNamedImports(s.importClause.namedBindings) &&
      ts.isStringLiteral(s.moduleSpecifier)
    ) {
      const element = s.importClause.namedBindings.elements.find((e) => e.name.text === name);
      if (element) return findDeclaration(target(file, s.moduleSpecifier.text), element.propertyName?.text ?? name, depth + 1);
    }
  }
  return undefined;
}

/** Every name an entry file exports (entries only re-export). */
function exportedNames(file: string): string[] {
  return source(file).statements.flatMap((s) =>
    ts.isExportDeclaration(s) && s.exportClause && ts.isNamedExports(s.exportClause) ? s.exportClause.elements.map((e) => e.name.text) : [],
  );
}

describe('entry point documentation', () => {
  for (const entry of ENTRIES) {
    it(`${entry}: every export has a TSDoc comment where it is declared`, () => {
      const file = join(ROOT, entry);
      expect(source(file).getFullText()).toContain('@packageDocumentation');
      const names = exportedNames(file);
      expect(names.length).toBeGreaterThan(0);
      const missing = names.flatMap((name) => {
        const found = findDeclaration(file, name);
        if (!found) return [`${name}: declaration not found`];
        return found.documented ? [] : [`${name} (${relative(ROOT, found.file)})`];
      });
      expect(missing, 'exports without a TSDoc comment').toEqual([]);
    });
  }
});
