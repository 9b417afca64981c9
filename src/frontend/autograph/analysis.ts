/**
 * What AutoGraph needs to know about a parsed function, from ts-morph's syntax tree: whether a
 * condition can be a Tensor (`condKind`), which variables a statement assigns that live outside
 * it (`assignedOuter`), whether a name is used after a statement or in an enclosing loop
 * (`liveAfter`), the free names the rewritten source must be given (`freeNames`), and whether a
 * loop's body can become a region (`loopRefusal`). Name-based and conservative: shadowing can
 * only add variables to a cond's or loop's outputs, never drop one.
 */
import type * as TsMorph from 'ts-morph';
import { FUNCTION_KINDS } from './parse.js';

type Node = TsMorph.Node;
type Statement = TsMorph.Statement;
type Expression = TsMorph.Expression;

/** A name the converted source reads but does not declare, where it is first read. */
export interface FreeName {
  readonly name: string;
  readonly line: number;
  readonly text: string;
  /** The members read when every use is `name.member` (a module namespace's use); else undefined. */
  readonly members?: readonly string[];
}

/** Whether a condition can be a Tensor: never, only through a relational operator, or as an object. */
export type CondKind = 'static' | 'relational' | 'dynamic';

/** Why a statement stays plain JS (for the error raised if its condition turns out to be a tensor). */
export interface Refusal { why: string }

export class FunctionAnalysis {
  readonly K: typeof TsMorph.SyntaxKind;
  private readonly lines: string[];

  constructor(readonly M: typeof TsMorph, readonly root: Node, source: string) {
    this.K = M.SyntaxKind;
    this.lines = source.split('\n');
  }

  lineOf(n: Node): number {
    return n.getStartLineNumber();
  }

  lineText(line: number): string {
    const l = (this.lines[line - 1] ?? '').trim();
    return l.length > 80 ? `${l.slice(0, 77)}...` : l;
  }

  condKind(e: Expression): CondKind {
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
  numericStatic(e: Expression): boolean {
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

  isFunctionLike(n: Node): boolean {
    return FUNCTION_KINDS.has(n.getKindName());
  }

  /** Visit descendants of `n` without entering nested functions (or classes). */
  walk(n: Node, visit: (d: Node) => void | 'skip'): void {
    n.forEachChild((c) => {
      if (this.isFunctionLike(c)) return;
      if (visit(c) === 'skip') return;
      this.walk(c, visit);
    });
  }

  isLoop(n: Node): boolean {
    const N = this.M.Node;
    return N.isWhileStatement(n) || N.isForStatement(n) || N.isDoStatement(n) || N.isForOfStatement(n) || N.isForInStatement(n);
  }

  /** `return`s in `n` (not in nested functions). */
  returnsIn(n: Node): Node[] {
    const out: Node[] = [];
    this.walk(n, (d) => { if (this.M.Node.isReturnStatement(d)) out.push(d); });
    return out;
  }

  /** Names assigned in `nodes` (also in nested closures), minus those declared inside them. */
  assignedOuter(nodes: readonly Node[]): string[] {
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
  refPositions(): Map<string, number[]> {
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
  liveAfter(name: string, n: Node, end: number): boolean {
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

  isReference(id: Node): boolean {
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

  freeNames(): { free: FreeName[]; usesThis: boolean } {
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
    const members = new Map<string, Set<string> | null>();
    this.root.forEachDescendant((d) => {
      if (!N.isIdentifier(d) || !this.isReference(d)) return;
      const name = d.getText();
      if (declared.has(name)) return;
      const p = d.getParent();
      const member = p && N.isPropertyAccessExpression(p) && p.getExpression() === d ? p.getName() : undefined;
      const seen = members.get(name);
      if (member === undefined) members.set(name, null);
      else if (seen !== null) members.set(name, (seen ?? new Set<string>()).add(member));
      if (free.has(name)) return;
      const line = this.lineOf(d);
      free.set(name, { name, line, text: this.lineText(line) });
    });
    return {
      free: [...free.values()].map((f) => {
        const m = members.get(f.name);
        return m ? { ...f, members: [...m] } : f;
      }),
      usesThis,
    };
  }

  /** A declaration (or pattern element) of a `var` of the converted function itself. */
  isHoistedVar(d: Node): boolean {
    const N = this.M.Node;
    let x: Node | undefined = d;
    while (x && !N.isVariableDeclarationList(x)) {
      if (!N.isVariableDeclaration(x) && !N.isBindingElement(x) && !N.isObjectBindingPattern(x) && !N.isArrayBindingPattern(x)) return false;
      x = x.getParent();
    }
    return x !== undefined && N.isVariableDeclarationList(x) && x.getDeclarationKind() === 'var' && this.functionOf(x) === this.root;
  }

  /** The nearest enclosing function (arrows included): the scope of a `var`. */
  functionOf(n: Node): Node | undefined {
    for (let p = n.getParent(); p; p = p.getParent()) if (this.isFunctionLike(p)) return p;
    return undefined;
  }

  alwaysReturns(s: Statement | readonly Statement[]): boolean {
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

  /** Why loop `s` cannot become a kiln.whileLoop (its body escapes the loop other than by break/continue). */
  loopRefusal(s: Node, body: Node): Refusal | undefined {
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

  /**
   * `v` is a per-iteration temporary: not read by the condition or update, not used after the
   * loop, and its first use in the body is a plain assignment at the body's top level.
   */
  writeFirst(v: string, loop: Node, cond: Node, inc: Node | undefined, body: Node): boolean {
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
