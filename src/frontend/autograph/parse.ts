/**
 * AutoGraph's parser: a function's source text (`f.toString()`: a function expression, an arrow
 * or a method) parsed by ts-morph into the function node the transform works on, or a KilnError
 * for what can never be converted (classes, generators, async functions, `super`, #private names).
 * ts-morph (with the TypeScript compiler under it) is loaded on the first conversion only.
 */
import type * as TsMorph from 'ts-morph';
import { KilnError } from '../../ir/types.js';
import { nodeHost } from '../../host/node.js';

type Node = TsMorph.Node;

let lib: typeof TsMorph | undefined;
let project: TsMorph.Project | undefined;

/** ts-morph (and the TypeScript compiler under it) loads on the first conversion only: it is large. */
export function tsMorph(): typeof TsMorph {
  return (lib ??= nodeHost('AutoGraph (it parses JavaScript with ts-morph)').require('ts-morph') as typeof TsMorph);
}


/** Kinds that start a new function (or class) scope: jumps, `return` and `this` stop there. */
export const FUNCTION_KINDS = new Set<string>([
  'FunctionDeclaration', 'FunctionExpression', 'ArrowFunction', 'MethodDeclaration', 'Constructor',
  'GetAccessor', 'SetAccessor', 'ClassDeclaration', 'ClassExpression',
]);


export interface ParsedFunction {
  /** The text ts-morph parsed (the source inside a wrapper on its first line). */
  text: string;
  root: Node;
  kind: RootKind;
}

/** Parse `source` (what `Function.prototype.toString` gave for `name`). */
export function parse(source: string, name: string): ParsedFunction {
  const M = tsMorph();
  project ??= new M.Project({ useInMemoryFileSystem: true, compilerOptions: { allowJs: true } });
  return parseFunction(M, project, source, name);
}

export type RootKind = 'function' | 'arrow' | 'method';

function parseFunction(M: typeof TsMorph, p: TsMorph.Project, source: string, name: string): ParsedFunction {
  const fail = refuse(name);
  const diagnostics = (sf: TsMorph.SourceFile): number =>
    ((sf.compilerNode as unknown as { parseDiagnostics?: unknown[] }).parseDiagnostics ?? []).length;
  // A function expression or arrow parses as a parenthesized expression.
  let sf = p.createSourceFile('autograph_fn.js', `(${source}\n)`, { overwrite: true });
  const stmts = sf.getStatements();
  if (diagnostics(sf) === 0 && stmts.length === 1 && M.Node.isExpressionStatement(stmts[0])) {
    const e = stmts[0].getExpression();
    const inner = M.Node.isParenthesizedExpression(e) ? e.getExpression() : undefined;
    if (inner && (M.Node.isClassExpression(inner))) fail('it is a class, not a function');
    if (inner && (M.Node.isFunctionExpression(inner) || M.Node.isArrowFunction(inner))) {
      checkRoot(M, inner, fail);
      return { text: sf.getFullText(), root: inner, kind: M.Node.isArrowFunction(inner) ? 'arrow' : 'function' };
    }
  }
  // A method (`call(x) {...}`, `get p() {...}`) parses inside an object literal.
  sf = p.createSourceFile('autograph_fn.js', `({${source}\n})`, { overwrite: true });
  const s2 = sf.getStatements();
  if (diagnostics(sf) === 0 && s2.length === 1 && M.Node.isExpressionStatement(s2[0])) {
    const e = s2[0].getExpression();
    const obj = M.Node.isParenthesizedExpression(e) ? e.getExpression() : undefined;
    if (obj && M.Node.isObjectLiteralExpression(obj) && obj.getProperties().length === 1) {
      const m = obj.getProperties()[0]!;
      if (M.Node.isMethodDeclaration(m) || M.Node.isGetAccessorDeclaration(m) || M.Node.isSetAccessorDeclaration(m)) {
        checkRoot(M, m, fail);
        return { text: sf.getFullText(), root: m, kind: 'method' };
      }
    }
  }
  return fail(`its source (\`${firstLine(source)}\`) does not parse as a JavaScript function`);
}

function checkRoot(M: typeof TsMorph, root: Node, fail: (what: string) => never): void {
  const f = root as TsMorph.FunctionExpression;
  if (f.isGenerator?.()) fail('it is a generator function (function*), which cannot be traced');
  if (f.isAsync?.()) fail('it is an async function, which cannot be traced (tracing is synchronous)');
  root.forEachDescendant((d) => {
    if (M.Node.isYieldExpression(d)) fail(`it contains \`yield\` (line ${d.getStartLineNumber()})`);
  });
}

/**
 * Refuse rewriting a function that reaches into its class: the rewritten source is compiled
 * outside it, where `super` and #private names do not resolve. (Checked only when a rewrite is
 * needed: such a method without tensor conditions runs as written.)
 */
export function checkRewritable(root: Node, name: string): void {
  const M = tsMorph();
  const fail = refuse(name);
  root.forEachDescendant((d) => {
    if (d.getKind() === M.SyntaxKind.SuperKeyword && ownerOf(M, d) === root) {
      fail(`it uses \`super\` (line ${d.getStartLineNumber()}), which a method rewritten outside its class cannot reach`);
    }
    if (M.Node.isPrivateIdentifier(d)) fail(`it uses the private name ${d.getText()} (line ${d.getStartLineNumber()}), which is only visible inside its class`);
  });
}

function refuse(name: string): (what: string) => never {
  return (what) => {
    throw new KilnError(`AutoGraph cannot convert '${name}': ${what}; pass autograph: false, or write the control flow with kiln.cond / kiln.whileLoop / kiln.scan`);
  };
}

/** The nearest enclosing non-arrow function or class of `n` (what `this`/`super` refer to). */
export function ownerOf(M: typeof TsMorph, n: Node): Node | undefined {
  for (let p = n.getParent(); p; p = p.getParent()) {
    if (FUNCTION_KINDS.has(p.getKindName()) && !M.Node.isArrowFunction(p)) return p;
  }
  return undefined;
}

function firstLine(s: string): string {
  const l = s.split('\n')[0]!.trim();
  return l.length > 60 ? `${l.slice(0, 60)}...` : l;
}

