/**
 * AutoGraph's source transform: a function's source text (`f.toString()`) in, the source of an
 * equivalent function expression out, where each `if`/`else`, `?:`, `while`, `for (;;)` and
 * `do ... while` whose condition may be a Tensor calls a helper of runtime.ts (`ag__.ifStmt`,
 * `ag__.whileStmt`, ...), `&&` / `||` / `!` in those conditions become `ag__.and/or/not`, and the
 * arithmetic and relational operators become `ag__.add/lt/...` (which fall back to JS on JS
 * values). `break`/`continue` in a converted loop become flags that guard the rest of the body
 * (TensorFlow's scheme); `if (c) { ...; return a } ...; return b` becomes `return ag__.ifReturn(...)`.
 * Parsing (parse.ts) and the facts it relies on (analysis.ts) come from ts-morph; nothing here
 * evaluates code.
 *
 * The invariant: on JS values the converted function does what the original did (the helpers
 * run the same statements in the same order). A statement that cannot be converted (a `return`
 * in only one branch, a labelled jump, a `break` inside `try`...) stays plain JS with its
 * condition wrapped in `ag__.jsCond`, which refuses a symbolic tensor naming the construct, the
 * line and the reason. Conditions that cannot be Tensors (`===`, `typeof`, `.length < 3`...) are
 * left untouched.
 */
import type * as TsMorph from 'ts-morph';
import { KilnError } from '../../ir/types.js';
import { FunctionAnalysis, type FreeName, type Refusal } from './analysis.js';
import { checkRewritable, parse, tsMorph, type RootKind } from './parse.js';
import type { Site } from './runtime.js';

type Node = TsMorph.Node;
type Statement = TsMorph.Statement;
type Expression = TsMorph.Expression;

export type { FreeName } from './analysis.js';

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

/**
 * A function the transform refuses after finding what it would convert: `mandatory` says whether
 * one of those conditions may be a Tensor object (so running it unconverted could silently take
 * a Tensor as true).
 */
export class NotConvertible extends KilnError {
  constructor(message: string, readonly mandatory: boolean) {
    super(message);
  }
}

export type TransformOutcome = { readonly kind: 'unchanged' } | { readonly kind: 'converted'; readonly conversion: Conversion };

interface Frame {
  kind: 'loop' | 'switch' | 'function';
  node: Node;
  /** Lowered loops: the flag variables that replace break / continue. */
  brk?: string;
  cnt?: string;
  lowered: boolean;
}

/**
 * Transform `source` (what `Function.prototype.toString` gave for `name`). Throws a KilnError for
 * what cannot be converted at all (generators, async functions, classes, unparsable text).
 */
export function transformSource(source: string, name: string): TransformOutcome {
  const parsed = parse(source, name);
  return new Transformer(parsed.text, parsed.root, source, name).run(parsed.kind);
}

class Transformer {
  private readonly M: typeof TsMorph;
  private readonly K: typeof TsMorph.SyntaxKind;
  private readonly a: FunctionAnalysis;
  private readonly sites: Site[] = [];
  private readonly converted: string[] = [];
  private readonly frames: Frame[] = [];
  private flagCount = 0;
  private mandatory = false;
  private needed = false;

  constructor(private readonly text: string, private readonly root: Node, source: string, private readonly name: string) {
    this.M = tsMorph();
    this.K = this.M.SyntaxKind;
    this.a = new FunctionAnalysis(this.M, root, source);
  }

  run(kind: RootKind): TransformOutcome {
    this.scanNeed();
    if (!this.needed) return { kind: 'unchanged' };
    let code: string;
    try {
      checkRewritable(this.root, this.name);
      code = this.emitRoot(kind);
    } catch (err) {
      if (err instanceof KilnError && !(err instanceof NotConvertible)) throw new NotConvertible(err.message, this.mandatory);
      throw err;
    }
    const { free, usesThis } = this.a.freeNames();
    return {
      kind: 'converted',
      conversion: { code, sites: this.sites, free, usesThis, arrow: kind === 'arrow', mandatory: this.mandatory, converted: this.converted },
    };
  }

  // ---- analysis ------------------------------------------------------------------------------------

  private site(construct: string, n: Node): number {
    const line = this.a.lineOf(n);
    this.sites.push({ construct, line, text: this.a.lineText(line) });
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
      const k = this.a.condKind(cond as Expression);
      if (k !== 'static') this.needed = true;
      if (k === 'dynamic') this.mandatory = true;
    });
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
        if (this.a.isFunctionLike(c)) return;
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
        visit(c, loops + (this.a.isLoop(c) ? 1 : 0), switches + (N.isSwitchStatement(c) ? 1 : 0), tries + (N.isTryStatement(c) ? 1 : 0), lbl);
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
    if (N.isBlock(n)) return this.emitBlock(n, this.a.isFunctionLike(n.getParentOrThrow()));
    if (N.isIfStatement(n) || N.isWhileStatement(n) || N.isForStatement(n) || N.isDoStatement(n)) {
      // One statement in, one statement out (a lowered loop is one block): a label stays on its loop.
      return this.emitStatements([n], false);
    }
    if (N.isBreakStatement(n) || N.isContinueStatement(n)) {
      const flag = this.jumpFlag(n);
      return flag ? `{ ${flag} = true; }` : this.splice(n);
    }
    if (this.a.isFunctionLike(n)) {
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
    if (N.isVariableDeclarationList(n) && n.getDeclarationKind() === 'var' && this.a.functionOf(n) === this.root) return this.emitVarList(n);
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
    const vars = [...this.a.assignedOuter(rest), ...this.flagsSetIn(rest)];
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
    if (this.a.condKind(c) === 'static') return this.splice(n);
    const site = this.site('conditional expression (?:)', n);
    this.converted.push(`?:@${this.a.lineOf(n)}`);
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

  private emitIf(s: TsMorph.IfStatement, rest: readonly Statement[], tail: boolean): { code: string; consumedRest: boolean } {
    const cond = s.getExpression();
    const thenS = s.getThenStatement();
    const elseS = s.getElseStatement();
    if (this.a.condKind(cond) === 'static') return { code: this.splice(s), consumedRest: false };
    const jumps = this.escapingJumps(s).filter((j) => !(j.frame?.lowered));
    const returns = this.a.returnsIn(s);
    let refusal: Refusal | undefined;
    if (jumps.length > 0) {
      const j = jumps[0]!.jump;
      refusal = { why: `it contains a \`${j.getText()}\` (line ${this.a.lineOf(j)}) out of a ${jumps[0]!.frame ? `${jumps[0]!.frame.kind} that is not converted` : 'labelled statement'}` };
    } else if (returns.length > 0) {
      const thenR = this.a.alwaysReturns(thenS);
      if (thenR && elseS && this.a.alwaysReturns(elseS)) {
        const site = this.site('if', s);
        this.converted.push(`if@${this.a.lineOf(s)}`);
        const code = `return ag__.ifReturn(${this.emitCond(cond)}, () => ${this.emitBody(thenS, true)}, () => ${this.emitBody(elseS, true)}, ${site});`;
        return { code, consumedRest: false };
      }
      if (thenR && !elseS && (tail || this.a.alwaysReturns(rest))) {
        const restJumps = rest.flatMap((r) => this.escapingJumps(r)).filter((j) => !(j.frame?.lowered));
        if (restJumps.length === 0) {
          const site = this.site('if', s);
          this.converted.push(`if@${this.a.lineOf(s)}`);
          const restCode = rest.length ? this.emitStatements(rest, true) : '';
          const code = `return ag__.ifReturn(${this.emitCond(cond)}, () => ${this.emitBody(thenS, true)}, () => { ${restCode} }, ${site});`;
          return { code, consumedRest: true };
        }
      }
      const r = returns[0]!;
      refusal = { why: `it has a \`return\` (line ${this.a.lineOf(r)}) but not in the supported form (both branches return, or the if returns and so does the code after it)` };
    }
    if (refusal) {
      const site = this.site('if', s);
      const elseCode = elseS ? ` else ${this.emitBody(elseS, false)}` : '';
      return { code: `if (ag__.jsCond(${this.emitCond(cond)}, ${site}, ${JSON.stringify(refusal.why)})) ${this.emitBody(thenS, false)}${elseCode}`, consumedRest: false };
    }
    const site = this.site('if', s);
    this.converted.push(`if@${this.a.lineOf(s)}`);
    const branches = elseS ? [thenS, elseS] : [thenS];
    const vars = [...this.a.assignedOuter(branches), ...this.flagsSetIn(branches)];
    const f = this.loweredFrame();
    const live = vars.map((v) => v === f?.brk || v === f?.cnt || this.a.liveAfter(v, s, s.getEnd()));
    const thenCode = this.emitBody(thenS, false);
    const elseCode = elseS ? this.emitBody(elseS, false) : '{}';
    return { code: `ag__.ifStmt(${this.emitCond(cond)}, () => ${thenCode}, () => ${elseCode}, ${this.getSet(vars, live, site)});`, consumedRest: false };
  }

  // ---- loops ----------------------------------------------------------------------------------------

  private emitLoop(s: TsMorph.WhileStatement | TsMorph.ForStatement | TsMorph.DoStatement): string {
    const N = this.M.Node;
    const isFor = N.isForStatement(s);
    const construct = isFor ? 'for loop' : N.isDoStatement(s) ? 'do-while loop' : 'while loop';
    const cond = isFor ? s.getCondition() : s.getExpression();
    const body = s.getStatement();
    if (!cond || this.a.condKind(cond) === 'static') {
      this.frames.push({ kind: 'loop', node: s, lowered: false });
      try {
        return this.splice(s);
      } finally {
        this.frames.pop();
      }
    }
    const refusal = this.a.loopRefusal(s, body);
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
    this.converted.push(`${isFor ? 'for' : N.isDoStatement(s) ? 'do' : 'while'}@${this.a.lineOf(s)}`);
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
        const vars = this.a.assignedOuter([inc]);
        const incSite = this.site(`${construct}'s update`, inc);
        incCode = `ag__.ifStmt(ag__.not(${frame.brk}), () => { ${incText} }, () => {}, ${this.getSet(vars, vars.map(() => true), incSite)});`;
      } else {
        incCode = incText;
      }
    }
    const fullCond = frame.brk ? `ag__.and(() => ag__.not(${frame.brk}), () => ${condCode})` : condCode;
    const parts: Node[] = [cond, body, ...(inc ? [inc] : [])];
    let vars = this.a.assignedOuter(parts);
    // A variable the body writes before reading (a per-iteration temporary) is not carried.
    vars = vars.filter((v) => !this.a.writeFirst(v, s, cond, inc, body));
    if (frame.brk) vars.push(frame.brk);
    let inner = `${frame.cnt ? `let ${frame.cnt} = false; ` : ''}${bodyCode}`;
    // `for (let i ...)` gives each iteration its own binding of i: closures made in the body keep
    // that iteration's value. A parameter of a per-iteration function does the same.
    const initList = isFor ? s.getInitializer() : undefined;
    let hasClosure = false;
    body.forEachDescendant((d) => { if (this.a.isFunctionLike(d)) hasClosure = true; });
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
}
