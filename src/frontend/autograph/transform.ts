/**
 * AutoGraph's source transform: a function's source text (`f.toString()`) in, the source of an
 * equivalent function expression out, where each `if`/`else`, `?:`, `while`, `for (;;)` and
 * `do ... while` whose condition may be a Tensor calls a helper of runtime.ts (`ag__.ifStmt`,
 * `ag__.whileStmt`, ...), `&&` / `||` / `!` in those conditions become `ag__.and/or/not`, and the
 * arithmetic and relational operators become `ag__.add/lt/...` (which fall back to JS on JS
 * values). `break`/`continue` in a converted loop become flags that guard the rest of the body
 * (TensorFlow's scheme); `if (c) { ...; return a } ...; return b` becomes `return ag__.ifReturn(...)`.
 * Parsing and analysis are ts-morph's; nothing here evaluates code.
 *
 * The invariant: on JS values the converted function does what the original did (the helpers
 * run the same statements in the same order). A statement that cannot be converted (a `return`
 * in only one branch, a labelled jump, a `break` inside `try`...) stays plain JS with its
 * condition wrapped in `ag__.jsCond`, which refuses a symbolic tensor naming the construct, the
 * line and the reason. Conditions that cannot be Tensors (`===`, `typeof`, `.length < 3`...) are
 * left untouched.
 */
import { createRequire } from 'node:module';
import type * as TsMorph from 'ts-morph';
import { KilnError } from '../../ir/types.js';
import type { Site } from './runtime.js';

type Node = TsMorph.Node;
type Statement = TsMorph.Statement;
type Expression = TsMorph.Expression;

let lib: typeof TsMorph | undefined;
let project: TsMorph.Project | undefined;

/** ts-morph (and the TypeScript compiler under it) loads on the first conversion only: it is large. */
function tsMorph(): typeof TsMorph {
  return (lib ??= createRequire(import.meta.url)('ts-morph') as typeof TsMorph);
}

/** A name the converted source reads but does not declare, where it is first read. */
export interface FreeName {
  readonly name: string;
  readonly line: number;
  readonly text: string;
}

export interface Conversion {
  /** Source of a function expression (an arrow for arrows); `ag__` is its runtime, free names are its scope. */
  readonly code: string;
  readonly sites: readonly Site[];
  readonly free: readonly FreeName[];
  /** The source reads `this` (a method or function expression binds it per call; an arrow cannot). */
  readonly usesThis: boolean;
  readonly arrow: boolean;
  /**
   * A converted condition may be a Tensor object (`if (t)`, `if (kiln.greater(a, b))`), which plain
   * JS would take as true; false when only relational conditions (`x.sum() > 0`, which throw under
   * a trace if left alone) needed conversion.
   */
  readonly mandatory: boolean;
  /** What was converted, for messages and tests: `if@3`, `while@5`... */
  readonly converted: readonly string[];
}

export type TransformOutcome = { readonly kind: 'unchanged' } | { readonly kind: 'converted'; readonly conversion: Conversion };

/** Whether a condition can be a Tensor: never, only through a relational operator, or as an object. */
type CondKind = 'static' | 'relational' | 'dynamic';

interface Frame {
  kind: 'loop' | 'switch' | 'function';
  node: Node;
  /** Lowered loops: the flag variables that replace break / continue. */
  brk?: string;
  cnt?: string;
  lowered: boolean;
}

/** `name (line N: \`text\`)`-style description of the first unsupported construct, or undefined. */
interface Refusal { why: string }

const FUNCTION_KINDS = new Set<string>([
  'FunctionDeclaration', 'FunctionExpression', 'ArrowFunction', 'MethodDeclaration', 'Constructor',
  'GetAccessor', 'SetAccessor', 'ClassDeclaration', 'ClassExpression',
]);

/**
 * Transform `source` (what `Function.prototype.toString` gave for `name`). Throws a KilnError for
 * what cannot be converted at all (generators, async functions, classes, unparsable text).
 */
export function transformSource(source: string, name: string): TransformOutcome {
  const M = tsMorph();
  project ??= new M.Project({ useInMemoryFileSystem: true, compilerOptions: { allowJs: true } });
  const parsed = parseFunction(M, project, source, name);
  const t = new Transformer(M, parsed.text, parsed.offset, parsed.root, source);
  return t.run(parsed.kind);
}

type RootKind = 'function' | 'arrow' | 'method';

function parseFunction(M: typeof TsMorph, p: TsMorph.Project, source: string, name: string): { text: string; offset: number; root: Node; kind: RootKind } {
  const fail = (what: string): never => {
    throw new KilnError(`AutoGraph cannot convert '${name}': ${what}; pass autograph: false, or write the control flow with kiln.cond / kiln.whileLoop / kiln.scan`);
  };
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
      return { text: sf.getFullText(), offset: 1, root: inner, kind: M.Node.isArrowFunction(inner) ? 'arrow' : 'function' };
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
        return { text: sf.getFullText(), offset: 2, root: m, kind: 'method' };
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
    // The rewritten source is compiled outside its class: super and #private names do not resolve there.
    if (d.getKind() === M.SyntaxKind.SuperKeyword && ownerOf(M, d) === root) {
      fail(`it uses \`super\` (line ${d.getStartLineNumber()}), which a method rewritten outside its class cannot reach`);
    }
    if (M.Node.isPrivateIdentifier(d)) fail(`it uses the private name ${d.getText()} (line ${d.getStartLineNumber()}), which is only visible inside its class`);
  });
}

/** The nearest enclosing non-arrow function or class of `n` (what `this`/`super` refer to). */
function ownerOf(M: typeof TsMorph, n: Node): Node | undefined {
  for (let p = n.getParent(); p; p = p.getParent()) {
    if (FUNCTION_KINDS.has(p.getKindName()) && !M.Node.isArrowFunction(p)) return p;
  }
  return undefined;
}

function firstLine(s: string): string {
  const l = s.split('\n')[0]!.trim();
  return l.length > 60 ? `${l.slice(0, 60)}...` : l;
}

class Transformer {
  private readonly K: typeof TsMorph.SyntaxKind;
  private readonly sites: Site[] = [];
  private readonly converted: string[] = [];
  private readonly frames: Frame[] = [];
  private flagCount = 0;
  private mandatory = false;
  private needed = false;
  private readonly lines: string[];

  constructor(
    private readonly M: typeof TsMorph,
    private readonly text: string,
    private readonly offset: number,
    private readonly root: Node,
    source: string,
  ) {
    this.K = M.SyntaxKind;
    this.lines = source.split('\n');
  }

  run(kind: RootKind): TransformOutcome {
    this.scanNeed();
    if (!this.needed) return { kind: 'unchanged' };
    const code = this.emitRoot(kind);
    const { free, usesThis } = this.freeNames();
    return {
      kind: 'converted',
      conversion: { code, sites: this.sites, free, usesThis, arrow: kind === 'arrow', mandatory: this.mandatory, converted: this.converted },
    };
  }

  // ---- analysis ------------------------------------------------------------------------------------

  private lineOf(n: Node): number {
    return n.getStartLineNumber();
  }

  private lineText(line: number): string {
    const l = (this.lines[line - 1] ?? '').trim();
    return l.length > 80 ? `${l.slice(0, 77)}...` : l;
  }

  private site(construct: string, n: Node): number {
    const line = this.lineOf(n);
    this.sites.push({ construct, line, text: this.lineText(line) });
    return this.sites.length - 1;
  }

  /** Find whether any construct needs converting, and whether one may see a Tensor object. */
  private scanNeed(): void {
    const { Node: N } = this.M;
    this.root.forEachDescendant((d) => {
      let cond: Node | undefined;
      if (N.isIfStatement(d) || N.isWhileStatement(d) || N.isDoStatement(d)) cond = d.getExpression();
      else if (N.isForStatement(d)) cond = d.getCondition();
      else if (N.isConditionalExpression(d)) cond = d.getCondition();
      if (!cond) return;
      const k = this.condKind(cond as Expression);
      if (k !== 'static') this.needed = true;
      if (k === 'dynamic') this.mandatory = true;
    });
  }

  private condKind(e: Expression): CondKind {
    const { Node: N } = this.M;
    const K = this.K;
    const max = (a: CondKind, b: CondKind): CondKind => (a === 'dynamic' || b === 'dynamic' ? 'dynamic' : a === 'relational' || b === 'relational' ? 'relational' : 'static');
    if (N.isParenthesizedExpression(e)) return this.condKind(e.getExpression());
    if (N.isLiteralExpression(e) || N.isNoSubstitutionTemplateLiteral(e) || N.isTemplateExpression(e)) return 'static';
    const kind = e.getKind();
    if (kind === K.TrueKeyword || kind === K.FalseKeyword || kind === K.NullKeyword) return 'static';
    if (N.isIdentifier(e) && ['undefined', 'NaN', 'Infinity'].includes(e.getText())) return 'static';
    if (N.isTypeOfExpression(e) || N.isVoidExpression(e) || N.isDeleteExpression(e)) return 'static';
    if (N.isPrefixUnaryExpression(e) && e.getOperatorToken() === K.ExclamationToken) return this.condKind(e.getOperand());
    if (N.isBinaryExpression(e)) {
      const op = e.getOperatorToken().getKind();
      if ([K.EqualsEqualsEqualsToken, K.ExclamationEqualsEqualsToken, K.EqualsEqualsToken, K.ExclamationEqualsToken,
        K.InstanceOfKeyword, K.InKeyword].includes(op)) return 'static';
      if (op === K.AmpersandAmpersandToken || op === K.BarBarToken) return max(this.condKind(e.getLeft()), this.condKind(e.getRight()));
      if ([K.LessThanToken, K.LessThanEqualsToken, K.GreaterThanToken, K.GreaterThanEqualsToken].includes(op)) {
        return this.numericStatic(e.getLeft()) && this.numericStatic(e.getRight()) ? 'static' : 'relational';
      }
      return 'dynamic';
    }
    if (N.isCallExpression(e)) {
      const callee = e.getExpression().getText();
      if (/^(Array\.isArray|Number\.is(Integer|Finite|NaN|SafeInteger)|isNaN|isFinite|Object\.is|Object\.hasOwn)$/.test(callee)) return 'static';
      if (/\.(includes|has|startsWith|endsWith|some|every|hasOwnProperty|test)$/.test(callee)) return 'static';
    }
    return 'dynamic';
  }

  /** An expression that is a JS number whatever the types: literals, lengths, ranks, shapes. */
  private numericStatic(e: Expression): boolean {
    const { Node: N } = this.M;
    if (N.isParenthesizedExpression(e)) return this.numericStatic(e.getExpression());
    if (N.isNumericLiteral(e)) return true;
    if (N.isPropertyAccessExpression(e) && ['length', 'rank', 'size'].includes(e.getName())) return true;
    if (N.isElementAccessExpression(e) && /\.shape$/.test(e.getExpression().getText())) return true;
    if (N.isPrefixUnaryExpression(e)) return this.numericStatic(e.getOperand());
    if (N.isBinaryExpression(e)) {
      const op = e.getOperatorToken().getKind();
      const K = this.K;
      return [K.PlusToken, K.MinusToken, K.AsteriskToken, K.SlashToken, K.PercentToken].includes(op) &&
        this.numericStatic(e.getLeft()) && this.numericStatic(e.getRight());
    }
    return false;
  }

  private isFunctionLike(n: Node): boolean {
    return FUNCTION_KINDS.has(n.getKindName());
  }

  /** Visit descendants of `n` without entering nested functions (or classes). */
  private walk(n: Node, visit: (d: Node) => void | 'skip'): void {
    n.forEachChild((c) => {
      if (this.isFunctionLike(c)) return;
      if (visit(c) === 'skip') return;
      this.walk(c, visit);
    });
  }

  private isLoop(n: Node): boolean {
    const N = this.M.Node;
    return N.isWhileStatement(n) || N.isForStatement(n) || N.isDoStatement(n) || N.isForOfStatement(n) || N.isForInStatement(n);
  }

  /** `return`s in `n` (not in nested functions). */
  private returnsIn(n: Node): Node[] {
    const out: Node[] = [];
    this.walk(n, (d) => { if (this.M.Node.isReturnStatement(d)) out.push(d); });
    return out;
  }

  /**
   * break/continue statements in `n` that leave `n` (their target is outside it), paired with the
   * frame they target (undefined for a labelled jump).
   */
  private escapingJumps(n: Node): { jump: Node; frame: Frame | undefined; inTry: boolean; inSwitch: boolean }[] {
    const N = this.M.Node;
    const out: { jump: Node; frame: Frame | undefined; inTry: boolean; inSwitch: boolean }[] = [];
    const visit = (x: Node, loops: number, switches: number, tries: number, labels: Set<string>): void => {
      x.forEachChild((c) => {
        if (this.isFunctionLike(c)) return;
        if (N.isBreakStatement(c) || N.isContinueStatement(c)) {
          const label = c.getLabel()?.getText();
          const isBreak = N.isBreakStatement(c);
          if (label !== undefined) {
            if (!labels.has(label)) out.push({ jump: c, frame: undefined, inTry: tries > 0, inSwitch: switches > 0 });
          } else if (isBreak ? loops === 0 && switches === 0 : loops === 0) {
            out.push({ jump: c, frame: this.targetFrame(isBreak), inTry: tries > 0, inSwitch: switches > 0 });
          }
          return;
        }
        const lbl = N.isLabeledStatement(c) ? new Set([...labels, c.getLabel().getText()]) : labels;
        visit(c, loops + (this.isLoop(c) ? 1 : 0), switches + (N.isSwitchStatement(c) ? 1 : 0), tries + (N.isTryStatement(c) ? 1 : 0), lbl);
      });
    };
    visit(n, 0, 0, 0, new Set());
    return out;
  }

  /** The innermost frame an unlabelled break (or continue) targets. */
  private targetFrame(isBreak: boolean): Frame | undefined {
    for (let i = this.frames.length - 1; i >= 0; i--) {
      const f = this.frames[i]!;
      if (f.kind === 'function') return undefined;
      if (f.kind === 'loop' || isBreak) return f;
    }
    return undefined;
  }

  /** Names assigned in `nodes` (also in nested closures), minus those declared inside them. */
  private assignedOuter(nodes: readonly Node[]): string[] {
    const N = this.M.Node;
    const K = this.K;
    const assigned: string[] = [];
    const declared = new Set<string>();
    const addTarget = (t: Node): void => {
      if (N.isParenthesizedExpression(t)) return addTarget(t.getExpression());
      if (N.isIdentifier(t)) assigned.push(t.getText());
      else if (N.isArrayLiteralExpression(t)) t.getElements().forEach(addTarget);
      else if (N.isObjectLiteralExpression(t)) {
        for (const p of t.getProperties()) {
          if (N.isShorthandPropertyAssignment(p)) assigned.push(p.getName());
          else if (N.isPropertyAssignment(p)) addTarget(p.getInitializerOrThrow());
          else if (N.isSpreadAssignment(p)) addTarget(p.getExpression());
        }
      } else if (N.isSpreadElement(t)) addTarget(t.getExpression());
      else if (N.isBinaryExpression(t) && t.getOperatorToken().getKind() === K.EqualsToken) addTarget(t.getLeft());
      else if (N.isObjectBindingPattern(t) || N.isArrayBindingPattern(t)) {
        for (const e of t.getElements()) if (N.isBindingElement(e)) addTarget(e.getNameNode());
      }
    };
    const visit = (d: Node): void => {
      if (N.isBinaryExpression(d)) {
        const op = d.getOperatorToken().getKind();
        if (op >= K.FirstAssignment && op <= K.LastAssignment) addTarget(d.getLeft());
      } else if ((N.isPrefixUnaryExpression(d) || N.isPostfixUnaryExpression(d)) &&
        (d.getOperatorToken() === K.PlusPlusToken || d.getOperatorToken() === K.MinusMinusToken)) {
        addTarget(d.getOperand());
      } else if (N.isVariableDeclaration(d) && this.isHoistedVar(d)) {
        addTarget(d.getNameNode()); // a root-level `var` is assigned here, declared at the top
      } else if (N.isBindingElement(d) && this.isHoistedVar(d)) {
        // handled through its VariableDeclaration's pattern
      } else if (N.isVariableDeclaration(d) || N.isParameterDeclaration(d) || N.isBindingElement(d) ||
        N.isFunctionDeclaration(d) || N.isClassDeclaration(d)) {
        const nameNode = (d as TsMorph.VariableDeclaration).getNameNode?.();
        if (nameNode && N.isIdentifier(nameNode)) declared.add(nameNode.getText());
      }
    };
    for (const n of nodes) {
      visit(n);
      n.forEachDescendant(visit);
    }
    return [...new Set(assigned)].filter((a) => !declared.has(a));
  }

  /** Identifier references (reads or writes) to each name, by position. */
  private refPositions(): Map<string, number[]> {
    if (this.refCache) return this.refCache;
    const m = new Map<string, number[]>();
    this.root.forEachDescendant((d) => {
      if (this.M.Node.isIdentifier(d) && this.isReference(d)) {
        const list = m.get(d.getText()) ?? [];
        list.push(d.getStart());
        m.set(d.getText(), list);
      }
    });
    return (this.refCache = m);
  }
  private refCache: Map<string, number[]> | undefined;

  /** Is `name` read (or written) after position `end`, or anywhere in a loop enclosing `n`? */
  private liveAfter(name: string, n: Node, end: number): boolean {
    const refs = this.refPositions().get(name) ?? [];
    if (refs.some((p) => p >= end)) return true;
    for (let a = n.getParent(); a && a !== this.root; a = a.getParent()) {
      if (this.isLoop(a)) {
        const s = a.getStart(), e = a.getEnd();
        if (refs.some((p) => p >= s && p < e)) return true;
      }
    }
    return false;
  }

  private isReference(id: Node): boolean {
    const p = id.getParent();
    if (!p) return false;
    const pc = p.compilerNode as unknown as Record<string, unknown>;
    const ic = id.compilerNode;
    const N = this.M.Node;
    if (N.isShorthandPropertyAssignment(p)) return true;
    if (pc['name'] === ic || pc['propertyName'] === ic || pc['label'] === ic) return false;
    if (N.isMetaProperty(p)) return false;
    return true;
  }

  private freeNames(): { free: FreeName[]; usesThis: boolean } {
    const N = this.M.Node;
    const declared = new Set<string>();
    const free = new Map<string, FreeName>();
    let usesThis = false;
    const rootName = (this.root as TsMorph.FunctionExpression).getName?.();
    if (rootName && N.isFunctionExpression(this.root)) declared.add(rootName);
    if (!N.isArrowFunction(this.root)) declared.add('arguments');
    const declare = (nameNode: Node | undefined): void => {
      if (!nameNode) return;
      if (N.isIdentifier(nameNode)) declared.add(nameNode.getText());
      else nameNode.forEachDescendant((d) => { if (N.isBindingElement(d) && N.isIdentifier(d.getNameNode())) declared.add(d.getNameNode().getText()); });
    };
    this.root.forEachDescendant((d) => {
      if (N.isVariableDeclaration(d) || N.isParameterDeclaration(d) || N.isBindingElement(d)) declare(d.getNameNode());
      else if (N.isFunctionDeclaration(d) || N.isFunctionExpression(d) || N.isClassDeclaration(d) || N.isClassExpression(d)) declare(d.getNameNode());
      else if (N.isCatchClause(d)) declare(d.getVariableDeclaration()?.getNameNode());
    });
    const thisVisit = (n: Node, inFunction: boolean): void => {
      n.forEachChild((c) => {
        if (c.getKind() === this.K.ThisKeyword && !inFunction) usesThis = true;
        const boundary = this.isFunctionLike(c) && !N.isArrowFunction(c);
        thisVisit(c, inFunction || boundary);
      });
    };
    thisVisit(this.root, false);
    this.root.forEachDescendant((d) => {
      if (!N.isIdentifier(d) || !this.isReference(d)) return;
      const name = d.getText();
      if (declared.has(name) || free.has(name)) return;
      const line = this.lineOf(d);
      free.set(name, { name, line, text: this.lineText(line) });
    });
    return { free: [...free.values()], usesThis };
  }

  // ---- emission -------------------------------------------------------------------------------------

  private emitRoot(kind: RootKind): string {
    const N = this.M.Node;
    const root = this.root as TsMorph.FunctionExpression | TsMorph.ArrowFunction | TsMorph.MethodDeclaration;
    this.frames.push({ kind: 'function', node: root, lowered: false });
    const params = root.getParameters().map((p) => this.emit(p)).join(', ');
    const body = root.getBody()!;
    let bodyText = N.isBlock(body) ? this.emitBlock(body, true) : this.emit(body);
    this.frames.pop();
    // `var`s become assignments (emitVarList) declared once here: a converted branch or loop body
    // is a closure, where a `var` would be local to it.
    const paramNames = new Set(root.getParameters().map((p) => p.getName()));
    const hoisted = [...this.hoisted].filter((v) => !paramNames.has(v));
    if (hoisted.length && N.isBlock(body)) bodyText = `{ let ${hoisted.join(', ')};${bodyText.slice(1)}`;
    if (kind === 'arrow') return `(${params}) => ${N.isBlock(body) ? bodyText : `(${bodyText})`}`;
    const name = kind === 'function' ? (root as TsMorph.FunctionExpression).getName() ?? '' : '';
    return `function ${name}(${params}) ${bodyText}`;
  }

  /** The node's source with its children emitted (the default for every node kind not handled). */
  private splice(n: Node): string {
    let out = '';
    let pos = n.getStart();
    for (const c of n.getChildren()) {
      const s = c.getStart();
      if (s < pos) continue;
      out += this.text.slice(pos, s) + this.emit(c);
      pos = c.getEnd();
    }
    return out + this.text.slice(pos, n.getEnd());
  }

  private emit(n: Node): string {
    const N = this.M.Node;
    const K = this.K;
    if (N.isBlock(n)) return this.emitBlock(n, this.isFunctionLike(n.getParentOrThrow()));
    if (N.isIfStatement(n) || N.isWhileStatement(n) || N.isForStatement(n) || N.isDoStatement(n)) {
      // One statement in, one statement out (a lowered loop is one block): a label stays on its loop.
      return this.emitStatements([n], false);
    }
    if (N.isBreakStatement(n) || N.isContinueStatement(n)) {
      const flag = this.jumpFlag(n);
      return flag ? `{ ${flag} = true; }` : this.splice(n);
    }
    if (this.isFunctionLike(n)) {
      this.frames.push({ kind: 'function', node: n, lowered: false });
      try {
        return this.splice(n);
      } finally {
        this.frames.pop();
      }
    }
    if (N.isSwitchStatement(n) || N.isForOfStatement(n) || N.isForInStatement(n)) {
      this.frames.push({ kind: N.isSwitchStatement(n) ? 'switch' : 'loop', node: n, lowered: false });
      try {
        return this.splice(n);
      } finally {
        this.frames.pop();
      }
    }
    if (N.isCaseClause(n) || N.isDefaultClause(n)) {
      // Keep `case x:` and emit its statements as a list (guards after a flag-setting statement).
      const stmts = n.getStatements();
      if (stmts.length === 0) return this.splice(n);
      return this.text.slice(n.getStart(), stmts[0]!.getStart()) + this.emitStatements(stmts, false);
    }
    if (N.isVariableDeclarationList(n) && n.getDeclarationKind() === 'var' && this.functionOf(n) === this.root) return this.emitVarList(n);
    if (N.isConditionalExpression(n)) return this.emitTernary(n);
    if (N.isBinaryExpression(n)) return this.emitBinary(n);
    if (N.isPrefixUnaryExpression(n)) {
      const op = n.getOperatorToken();
      const x = n.getOperand();
      if (op === K.MinusToken && !N.isNumericLiteral(x)) return `ag__.neg(${this.emit(x)})`;
      if ((op === K.PlusPlusToken || op === K.MinusMinusToken) && N.isIdentifier(x)) {
        return `(${x.getText()} = ag__.${op === K.PlusPlusToken ? 'add' : 'sub'}(${x.getText()}, 1))`;
      }
      return this.splice(n);
    }
    if (N.isPostfixUnaryExpression(n)) {
      const op = n.getOperatorToken();
      const x = n.getOperand();
      const p = n.getParent();
      const statementLike = p && (N.isExpressionStatement(p) || (N.isForStatement(p) && p.getIncrementor() === n));
      if (statementLike && N.isIdentifier(x)) return `${x.getText()} = ag__.${op === K.PlusPlusToken ? 'add' : 'sub'}(${x.getText()}, 1)`;
      return this.splice(n);
    }
    if (n.getChildCount() === 0) return n.getText();
    return this.splice(n);
  }

  private readonly hoisted = new Set<string>();

  /** A declaration (or pattern element) of a `var` of the converted function itself. */
  private isHoistedVar(d: Node): boolean {
    const N = this.M.Node;
    let x: Node | undefined = d;
    while (x && !N.isVariableDeclarationList(x)) {
      if (!N.isVariableDeclaration(x) && !N.isBindingElement(x) && !N.isObjectBindingPattern(x) && !N.isArrayBindingPattern(x)) return false;
      x = x.getParent();
    }
    return x !== undefined && N.isVariableDeclarationList(x) && x.getDeclarationKind() === 'var' && this.functionOf(x) === this.root;
  }

  /** The nearest enclosing function (arrows included): the scope of a `var`. */
  private functionOf(n: Node): Node | undefined {
    for (let p = n.getParent(); p; p = p.getParent()) if (this.isFunctionLike(p)) return p;
    return undefined;
  }

  /** `var a = 1, {b} = o` as `(a = 1), ({b} = o)` (the names are declared at the top: emitRoot). */
  private emitVarList(n: TsMorph.VariableDeclarationList): string {
    const N = this.M.Node;
    const decls = n.getDeclarations();
    for (const d of decls) {
      const nameNode = d.getNameNode();
      if (N.isIdentifier(nameNode)) this.hoisted.add(nameNode.getText());
      else nameNode.forEachDescendant((x) => { if (N.isBindingElement(x) && N.isIdentifier(x.getNameNode())) this.hoisted.add(x.getNameNode().getText()); });
    }
    const p = n.getParent();
    if (p && (N.isForOfStatement(p) || N.isForInStatement(p))) return decls[0]!.getNameNode().getText();
    const parts = decls.filter((d) => d.getInitializer()).map((d) => `(${d.getNameNode().getText()} = ${this.emit(d.getInitializer()!)})`);
    return parts.join(', ');
  }

  private emitBlock(b: TsMorph.Block, tail: boolean): string {
    const stmts = b.getStatements();
    if (stmts.length === 0) return b.getText();
    return `{${this.text.slice(b.getStart() + 1, stmts[0]!.getStart())}${this.emitStatements(stmts, tail)}${this.text.slice(stmts[stmts.length - 1]!.getEnd(), b.getEnd())}`;
  }

  /** A branch or body as a block of statements. */
  private emitBody(s: Statement, tail: boolean): string {
    return this.M.Node.isBlock(s) ? this.emitBlock(s, tail) : `{ ${this.emitStatements([s], tail)} }`;
  }

  /** The flag a break/continue sets when its loop is lowered, else undefined. */
  private jumpFlag(n: Node): string | undefined {
    const N = this.M.Node;
    if ((n as TsMorph.BreakStatement).getLabel()) return undefined;
    const f = this.targetFrame(N.isBreakStatement(n));
    if (!f || !f.lowered) return undefined;
    return N.isBreakStatement(n) ? f.brk : f.cnt;
  }

  /** The innermost lowered loop frame, if we are directly in its body (no native loop/switch between). */
  private loweredFrame(): Frame | undefined {
    const f = this.frames[this.frames.length - 1];
    return f && f.kind === 'loop' && f.lowered ? f : undefined;
  }

  /** Does `s` set the current lowered loop's break/continue flags? */
  private setsFlag(s: Statement): boolean {
    const f = this.loweredFrame();
    if (!f) return false;
    return this.escapingJumps(s).some((j) => j.frame === f) || ((this.M.Node.isBreakStatement(s) || this.M.Node.isContinueStatement(s)) && this.jumpFlag(s) !== undefined);
  }

  /** Emit a statement list: return-form ifs, break/continue flags and the guards they need. */
  private emitStatements(stmts: readonly Statement[], tail: boolean): string {
    const N = this.M.Node;
    let out = '';
    for (let i = 0; i < stmts.length; i++) {
      const s = stmts[i]!;
      const gap = i === 0 ? '' : this.text.slice(stmts[i - 1]!.getEnd(), s.getStart());
      const rest = stmts.slice(i + 1);
      out += gap;
      if (N.isBreakStatement(s) || N.isContinueStatement(s)) {
        const flag = this.jumpFlag(s);
        if (flag) {
          out += `${flag} = true;`;
          break; // the rest of the list is unreachable
        }
        out += this.splice(s);
        continue;
      }
      if (N.isIfStatement(s)) {
        const r = this.emitIf(s, rest, tail);
        out += r.code;
        if (r.consumedRest) break;
      } else if (N.isWhileStatement(s) || N.isForStatement(s) || N.isDoStatement(s)) {
        out += this.emitLoop(s);
      } else {
        out += this.emit(s);
      }
      if (rest.length > 0 && this.setsFlag(s)) {
        out += ` ${this.guardRest(s, rest)}`;
        break;
      }
    }
    return out;
  }

  /** `ag__.ifStmt(!(brk || cnt), () => { rest })`: the rest of a lowered loop body after a jump. */
  private guardRest(after: Statement, rest: readonly Statement[]): string {
    const f = this.loweredFrame()!;
    const flags = [f.brk, f.cnt].filter((x): x is string => x !== undefined);
    const cond = flags.length === 1 ? `ag__.not(${flags[0]})` : `ag__.not(ag__.or(() => ${flags[0]}, () => ${flags[1]}))`;
    const body = this.emitStatements(rest, false);
    const vars = [...this.assignedOuter(rest), ...this.flagsSetIn(rest)];
    const site = this.site('rest of the loop body after a break/continue', after);
    return `ag__.ifStmt(${cond}, () => { ${body} }, () => {}, ${this.getSet(vars, vars.map(() => true), site)});`;
  }

  /** `() => [a, b], (ag__v) => { [a, b] = ag__v; }, ["a","b"]`: how a helper reads and writes the variables. */
  private vars(vars: readonly string[]): string {
    const list = vars.join(', ');
    const set = vars.length ? `(ag__v) => { [${list}] = ag__v; }` : '() => {}';
    return `() => [${list}], ${set}, ${JSON.stringify(vars)}`;
  }

  private getSet(vars: readonly string[], live: readonly boolean[], site: number): string {
    return `${this.vars(vars)}, [${live.map((l) => (l ? 1 : 0)).join(', ')}], ${site}`;
  }

  /** The current lowered loop's flags that jumps inside `nodes` set. */
  private flagsSetIn(nodes: readonly Node[]): string[] {
    const f = this.loweredFrame();
    if (!f) return [];
    const N = this.M.Node;
    const out = new Set<string>();
    for (const n of nodes) {
      const direct = (N.isBreakStatement(n) || N.isContinueStatement(n)) ? [{ jump: n as Node, frame: this.targetFrame(N.isBreakStatement(n)) }] : [];
      for (const j of [...direct, ...this.escapingJumps(n)]) {
        if (j.frame !== f || (j.jump as TsMorph.BreakStatement).getLabel()) continue;
        const flag = N.isBreakStatement(j.jump) ? f.brk : f.cnt;
        if (flag) out.add(flag);
      }
    }
    return [...out];
  }

  /** A condition with `&&`, `||`, `!` as runtime helpers. */
  private emitCond(e: Expression): string {
    const N = this.M.Node;
    const K = this.K;
    if (N.isParenthesizedExpression(e)) return `(${this.emitCond(e.getExpression())})`;
    if (N.isPrefixUnaryExpression(e) && e.getOperatorToken() === K.ExclamationToken) return `ag__.not(${this.emitCond(e.getOperand())})`;
    if (N.isBinaryExpression(e)) {
      const op = e.getOperatorToken().getKind();
      if (op === K.AmpersandAmpersandToken || op === K.BarBarToken) {
        return `ag__.${op === K.AmpersandAmpersandToken ? 'and' : 'or'}(() => ${this.emitCond(e.getLeft())}, () => ${this.emitCond(e.getRight())})`;
      }
    }
    return this.emit(e);
  }

  private emitTernary(n: TsMorph.ConditionalExpression): string {
    const c = n.getCondition();
    if (this.condKind(c) === 'static') return this.splice(n);
    const site = this.site('conditional expression (?:)', n);
    this.converted.push(`?:@${this.lineOf(n)}`);
    return `ag__.ifExp(${this.emitCond(c)}, () => (${this.emit(n.getWhenTrue())}), () => (${this.emit(n.getWhenFalse())}), ${site})`;
  }

  private emitBinary(n: TsMorph.BinaryExpression): string {
    const K = this.K;
    const N = this.M.Node;
    const op = n.getOperatorToken().getKind();
    const helper: Partial<Record<number, string>> = {
      [K.PlusToken]: 'add', [K.MinusToken]: 'sub', [K.AsteriskToken]: 'mul', [K.SlashToken]: 'div', [K.PercentToken]: 'mod',
      [K.AsteriskAsteriskToken]: 'pow', [K.LessThanToken]: 'lt', [K.LessThanEqualsToken]: 'le', [K.GreaterThanToken]: 'gt',
      [K.GreaterThanEqualsToken]: 'ge',
    };
    const compound: Partial<Record<number, string>> = {
      [K.PlusEqualsToken]: 'add', [K.MinusEqualsToken]: 'sub', [K.AsteriskEqualsToken]: 'mul', [K.SlashEqualsToken]: 'div',
      [K.PercentEqualsToken]: 'mod', [K.AsteriskAsteriskEqualsToken]: 'pow',
    };
    const h = helper[op];
    if (h) return `ag__.${h}(${this.emit(n.getLeft())}, ${this.emit(n.getRight())})`;
    const c = compound[op];
    if (c && N.isIdentifier(n.getLeft())) {
      const name = n.getLeft().getText();
      return `${name} = ag__.${c}(${name}, ${this.emit(n.getRight())})`;
    }
    return this.splice(n);
  }

  // ---- if -------------------------------------------------------------------------------------------

  private alwaysReturns(s: Statement | readonly Statement[]): boolean {
    const N = this.M.Node;
    if (Array.isArray(s)) return (s as readonly Statement[]).some((x) => this.alwaysReturns(x));
    const st = s as Statement;
    if (N.isReturnStatement(st) || N.isThrowStatement(st)) return true;
    if (N.isBlock(st)) return this.alwaysReturns(st.getStatements());
    if (N.isIfStatement(st)) {
      const e = st.getElseStatement();
      return e !== undefined && this.alwaysReturns(st.getThenStatement()) && this.alwaysReturns(e);
    }
    return false;
  }

  private emitIf(s: TsMorph.IfStatement, rest: readonly Statement[], tail: boolean): { code: string; consumedRest: boolean } {
    const cond = s.getExpression();
    const thenS = s.getThenStatement();
    const elseS = s.getElseStatement();
    if (this.condKind(cond) === 'static') return { code: this.splice(s), consumedRest: false };
    const jumps = this.escapingJumps(s).filter((j) => !(j.frame?.lowered));
    const returns = this.returnsIn(s);
    let refusal: Refusal | undefined;
    if (jumps.length > 0) {
      const j = jumps[0]!.jump;
      refusal = { why: `it contains a \`${j.getText()}\` (line ${this.lineOf(j)}) out of a ${jumps[0]!.frame ? `${jumps[0]!.frame.kind} that is not converted` : 'labelled statement'}` };
    } else if (returns.length > 0) {
      const thenR = this.alwaysReturns(thenS);
      if (thenR && elseS && this.alwaysReturns(elseS)) {
        const site = this.site('if', s);
        this.converted.push(`if@${this.lineOf(s)}`);
        const code = `return ag__.ifReturn(${this.emitCond(cond)}, () => ${this.emitBody(thenS, true)}, () => ${this.emitBody(elseS, true)}, ${site});`;
        return { code, consumedRest: false };
      }
      if (thenR && !elseS && (tail || this.alwaysReturns(rest))) {
        const restJumps = rest.flatMap((r) => this.escapingJumps(r)).filter((j) => !(j.frame?.lowered));
        if (restJumps.length === 0) {
          const site = this.site('if', s);
          this.converted.push(`if@${this.lineOf(s)}`);
          const restCode = rest.length ? this.emitStatements(rest, true) : '';
          const code = `return ag__.ifReturn(${this.emitCond(cond)}, () => ${this.emitBody(thenS, true)}, () => { ${restCode} }, ${site});`;
          return { code, consumedRest: true };
        }
      }
      const r = returns[0]!;
      refusal = { why: `it has a \`return\` (line ${this.lineOf(r)}) but not in the supported form (both branches return, or the if returns and so does the code after it)` };
    }
    if (refusal) {
      const site = this.site('if', s);
      const elseCode = elseS ? ` else ${this.emitBody(elseS, false)}` : '';
      return { code: `if (ag__.jsCond(${this.emitCond(cond)}, ${site}, ${JSON.stringify(refusal.why)})) ${this.emitBody(thenS, false)}${elseCode}`, consumedRest: false };
    }
    const site = this.site('if', s);
    this.converted.push(`if@${this.lineOf(s)}`);
    const branches = elseS ? [thenS, elseS] : [thenS];
    const vars = [...this.assignedOuter(branches), ...this.flagsSetIn(branches)];
    const f = this.loweredFrame();
    const live = vars.map((v) => v === f?.brk || v === f?.cnt || this.liveAfter(v, s, s.getEnd()));
    const thenCode = this.emitBody(thenS, false);
    const elseCode = elseS ? this.emitBody(elseS, false) : '{}';
    return { code: `ag__.ifStmt(${this.emitCond(cond)}, () => ${thenCode}, () => ${elseCode}, ${this.getSet(vars, live, site)});`, consumedRest: false };
  }

  // ---- loops ----------------------------------------------------------------------------------------

  /** Why loop `s` cannot become a kiln.whileLoop (its body escapes the loop other than by break/continue). */
  private loopRefusal(s: Node, body: Node): Refusal | undefined {
    const N = this.M.Node;
    const ret = this.returnsIn(body)[0];
    if (ret) return { why: `it contains a \`return\` (line ${this.lineOf(ret)}); return after the loop instead` };
    let bad: Refusal | undefined;
    const visit = (x: Node, loops: number, switches: number, tries: number): void => {
      x.forEachChild((c) => {
        if (bad || this.isFunctionLike(c)) return;
        if (N.isBreakStatement(c) || N.isContinueStatement(c)) {
          const kw = N.isBreakStatement(c) ? 'break' : 'continue';
          if (c.getLabel()) {
            bad = { why: `it contains a labelled \`${c.getText()}\` (line ${this.lineOf(c)})` };
          } else if (loops === 0 && (kw === 'continue' || switches === 0)) {
            if (tries > 0) bad = { why: `it contains a \`${kw}\` inside a \`try\` statement (line ${this.lineOf(c)})` };
            else if (switches > 0) bad = { why: `it contains a \`continue\` inside a \`switch\` (line ${this.lineOf(c)})` };
          }
          return;
        }
        visit(c, loops + (this.isLoop(c) ? 1 : 0), switches + (N.isSwitchStatement(c) ? 1 : 0), tries + (N.isTryStatement(c) ? 1 : 0));
      });
    };
    visit(body, 0, 0, 0);
    void s;
    return bad;
  }

  private emitLoop(s: TsMorph.WhileStatement | TsMorph.ForStatement | TsMorph.DoStatement): string {
    const N = this.M.Node;
    const isFor = N.isForStatement(s);
    const construct = isFor ? 'for loop' : N.isDoStatement(s) ? 'do-while loop' : 'while loop';
    const cond = isFor ? s.getCondition() : s.getExpression();
    const body = s.getStatement();
    if (!cond || this.condKind(cond) === 'static') {
      this.frames.push({ kind: 'loop', node: s, lowered: false });
      try {
        return this.splice(s);
      } finally {
        this.frames.pop();
      }
    }
    const refusal = this.loopRefusal(s, body);
    const site = this.site(construct, s);
    if (refusal) {
      this.frames.push({ kind: 'loop', node: s, lowered: false });
      try {
        const c = `ag__.jsCond(${this.emitCond(cond)}, ${site}, ${JSON.stringify(refusal.why)})`;
        const b = this.emitBody(body, false);
        if (isFor) {
          const init = s.getInitializer();
          const inc = s.getIncrementor();
          return `for (${init ? this.emit(init) : ''}; ${c}; ${inc ? this.emit(inc) : ''}) ${b}`;
        }
        return N.isDoStatement(s) ? `do ${b} while (${c});` : `while (${c}) ${b}`;
      } finally {
        this.frames.pop();
      }
    }
    this.converted.push(`${isFor ? 'for' : N.isDoStatement(s) ? 'do' : 'while'}@${this.lineOf(s)}`);
    const id = ++this.flagCount;
    const jumps = this.escapingJumps(body);
    const frame: Frame = { kind: 'loop', node: s, lowered: true };
    if (jumps.some((j) => N.isBreakStatement(j.jump))) frame.brk = `ag__brk${id}`;
    if (jumps.some((j) => N.isContinueStatement(j.jump))) frame.cnt = `ag__cnt${id}`;
    const inc = isFor ? s.getIncrementor() : undefined;
    const condCode = this.emitCond(cond);
    this.frames.push(frame);
    let bodyCode: string;
    try {
      const stmts = N.isBlock(body) ? body.getStatements() : [body];
      bodyCode = this.emitStatements(stmts, false);
    } finally {
      this.frames.pop();
    }
    let incCode = '';
    if (inc) {
      const incText = `${this.emit(inc)};`;
      if (frame.brk) {
        const vars = this.assignedOuter([inc]);
        const incSite = this.site(`${construct}'s update`, inc);
        incCode = `ag__.ifStmt(ag__.not(${frame.brk}), () => { ${incText} }, () => {}, ${this.getSet(vars, vars.map(() => true), incSite)});`;
      } else {
        incCode = incText;
      }
    }
    const fullCond = frame.brk ? `ag__.and(() => ag__.not(${frame.brk}), () => ${condCode})` : condCode;
    const parts: Node[] = [cond, body, ...(inc ? [inc] : [])];
    let vars = this.assignedOuter(parts);
    // A variable the body writes before reading (a per-iteration temporary) is not carried.
    vars = vars.filter((v) => !this.writeFirst(v, s, cond, inc, body));
    if (frame.brk) vars.push(frame.brk);
    let inner = `${frame.cnt ? `let ${frame.cnt} = false; ` : ''}${bodyCode}`;
    // `for (let i ...)` gives each iteration its own binding of i: closures made in the body keep
    // that iteration's value. A parameter of a per-iteration function does the same.
    const initList = isFor ? s.getInitializer() : undefined;
    let hasClosure = false;
    body.forEachDescendant((d) => { if (this.isFunctionLike(d)) hasClosure = true; });
    if (hasClosure && initList && N.isVariableDeclarationList(initList) && initList.getDeclarationKind() !== 'var') {
      const names = initList.getDeclarations().map((d) => d.getNameNode()).filter((x) => N.isIdentifier(x)).map((x) => x.getText());
      if (names.length) inner = `[${names.join(', ')}] = ((${names.join(', ')}) => { ${inner} return [${names.join(', ')}]; })(${names.join(', ')});`;
    }
    const bodyFn = `() => { ${inner} ${incCode} }`;
    const init = isFor && s.getInitializer() ? `${this.emit(s.getInitializer()!)}; ` : '';
    const brkDecl = frame.brk ? `let ${frame.brk} = false; ` : '';
    const whileCall = (b: string): string => `ag__.whileStmt(() => ${fullCond}, ${b}, ${this.vars(vars)}, ${site});`;
    if (N.isDoStatement(s)) {
      const fnName = `ag__body${id}`;
      return `{ ${brkDecl}const ${fnName} = ${bodyFn}; ${fnName}(); ${whileCall(fnName)} }`;
    }
    return `{ ${init}${brkDecl}${whileCall(bodyFn)} }`;
  }

  /**
   * `v` is a per-iteration temporary: not read by the condition or update, not used after the
   * loop, and its first use in the body is a plain assignment at the body's top level.
   */
  private writeFirst(v: string, loop: Node, cond: Node, inc: Node | undefined, body: Node): boolean {
    const refs = this.refPositions().get(v) ?? [];
    const inNode = (n: Node | undefined) => n !== undefined && refs.some((p) => p >= n.getStart() && p < n.getEnd());
    if (inNode(cond) || inNode(inc) || this.liveAfter(v, loop, loop.getEnd())) return false;
    const N = this.M.Node;
    const stmts = N.isBlock(body) ? body.getStatements() : [body];
    const first = refs.filter((p) => p >= body.getStart() && p < body.getEnd()).sort((a, b) => a - b)[0];
    if (first === undefined) return false;
    for (const st of stmts) {
      if (first < st.getStart() || first >= st.getEnd()) continue;
      if (!N.isExpressionStatement(st)) return false;
      const e = st.getExpression();
      return N.isBinaryExpression(e) && e.getOperatorToken().getKind() === this.K.EqualsToken &&
        N.isIdentifier(e.getLeft()) && e.getLeft().getText() === v && e.getLeft().getStart() === first;
    }
    return false;
  }
}
