/**
 * WebAssembly SIMD kernels for NHWC convolution and its relatives:
 *
 * - emitConv2d: implicit GEMM. Output pixels are GEMM rows, output channels
 *   GEMM columns, and (ky, kx, ci) the reduction, with HWIO weights packed as
 *   B[KH*KW*Cin, Cout] panels (pack.ts). For a block of mr output pixels in
 *   one output row and a fixed tap (ky, kx), the input elements the block
 *   needs are at a constant stride (sw*Cin floats), so the ci loop is the GEMM
 *   micro-kernel with lda = sw*Cin and no im2col buffer. Pixels whose window
 *   crosses the left/right padding are generated one by one with only their
 *   valid taps (known at compile time); rows whose tap row falls in the
 *   top/bottom padding skip it at run time.
 * - emitDepthwiseConv2d: direct, SIMD over channels (depth multiplier 1).
 * - emitPool2d: max and average pooling, SIMD over channels; average divides
 *   by the number of taps inside the input (TensorFlow's 'same' semantics).
 *
 * Work items are output rows (n*OH + oy), so threads split them.
 */
import binaryen from 'binaryen';
import { KilnError } from '../../ir/types.js';
import { type EpilogueContext, type GemmEpilogue, DEFAULT_NR, applyEpilogue, fuseMadd } from './gemm.js';
import {
  type ExpressionRef,
  type Module,
  addKernel,
  f32x4Const,
  loadLanes,
  madd,
  storeLanes,
  v128Zero,
} from './module_builder.js';

export interface Window2d {
  batch: number;
  H: number;
  W: number;
  KH: number;
  KW: number;
  strides?: readonly [number, number];
  dilations?: readonly [number, number];
  /** Explicit padding [top, bottom, left, right] (resolve 'same' before). */
  pads?: readonly [number, number, number, number];
}

interface Geometry {
  batch: number;
  H: number;
  W: number;
  KH: number;
  KW: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  pt: number;
  pl: number;
  OH: number;
  OW: number;
}

/** Output height and width of a 2-D window op. */
export function windowOutputSize(w: Window2d): [number, number] {
  const g = geometry('conv2d', w);
  return [g.OH, g.OW];
}

/** TensorFlow 'same' padding [top, bottom, left, right] for the given window. */
export function samePadding(
  H: number,
  W: number,
  KH: number,
  KW: number,
  strides: readonly [number, number] = [1, 1],
  dilations: readonly [number, number] = [1, 1],
): [number, number, number, number] {
  const one = (size: number, k: number, s: number, d: number): [number, number] => {
    const out = Math.ceil(size / s);
    const total = Math.max(0, (out - 1) * s + (k - 1) * d + 1 - size);
    return [Math.floor(total / 2), total - Math.floor(total / 2)];
  };
  const [t, b] = one(H, KH, strides[0], dilations[0]);
  const [l, r] = one(W, KW, strides[1], dilations[1]);
  return [t, b, l, r];
}

function geometry(op: string, w: Window2d): Geometry {
  const [sh, sw] = w.strides ?? [1, 1];
  const [dh, dw] = w.dilations ?? [1, 1];
  const [pt, pb, pl, pr] = w.pads ?? [0, 0, 0, 0];
  const bad = (msg: string): never => {
    throw new KilnError(`${op} (batch=${w.batch}, H=${w.H}, W=${w.W}, kernel ${w.KH}x${w.KW}): ${msg}`);
  };
  for (const [k, v] of Object.entries({ batch: w.batch, H: w.H, W: w.W, KH: w.KH, KW: w.KW, sh, sw, dh, dw })) {
    if (!Number.isInteger(v) || v < 1) bad(`${k} must be a positive integer, got ${v}`);
  }
  for (const [k, v] of Object.entries({ pt, pb, pl, pr })) {
    if (!Number.isInteger(v) || v < 0) bad(`padding ${k} must be a non-negative integer, got ${v}`);
  }
  const OH = Math.floor((w.H + pt + pb - ((w.KH - 1) * dh + 1)) / sh) + 1;
  const OW = Math.floor((w.W + pl + pr - ((w.KW - 1) * dw + 1)) / sw) + 1;
  if (OH < 1 || OW < 1) bad(`the dilated kernel does not fit the padded input (output ${OH}x${OW})`);
  return { batch: w.batch, H: w.H, W: w.W, KH: w.KH, KW: w.KW, sh, sw, dh, dw, pt, pl, OH, OW };
}

/** Output columns [lo, hi) whose windows lie fully inside the input horizontally. */
function interiorColumns(g: Geometry): [number, number] {
  const lo = Math.min(g.OW, Math.ceil(g.pl / g.sw));
  const hiRaw = Math.floor((g.W - 1 - (g.KW - 1) * g.dw + g.pl) / g.sw) + 1;
  const hi = Math.max(lo, Math.min(g.OW, hiRaw));
  return [lo, hi];
}

function checkAddr(op: string, name: string, addrs: Record<string, number>): void {
  for (const [k, v] of Object.entries(addrs)) {
    if (!Number.isInteger(v) || v < 0 || v % 4 !== 0) {
      throw new KilnError(`${op} '${name}': ${k} must be a 4-byte aligned address, got ${v}`);
    }
  }
}

/** Locals allocator over a kernel's (start, end) params. */
class Locals {
  private readonly types: binaryen.Type[] = [];
  i32(): number {
    this.types.push(binaryen.i32);
    return this.types.length + 1;
  }
  v128(): number {
    this.types.push(binaryen.v128);
    return this.types.length + 1;
  }
  list(): binaryen.Type[] {
    return this.types;
  }
}

export interface Conv2dSpec extends Window2d {
  name: string;
  Cin: number;
  Cout: number;
  /** Byte address of the input [batch, H, W, Cin]. */
  inAddr: number;
  /** Byte address of packB(weights HWIO as [KH*KW*Cin, Cout], KH*KW*Cin, Cout, nr). */
  wPackedAddr: number;
  /** Byte address of the output [batch, OH, OW, Cout]. */
  outAddr: number;
  relaxed: boolean;
  /** Per-output epilogue; row() is the flat output pixel, col() the channel. */
  epilogue?: GemmEpilogue;
  mr?: number;
  nr?: number;
}

export interface WindowKernel {
  name: string;
  /** Work items: output rows, batch * OH. */
  workItems: number;
  OH: number;
  OW: number;
}

/** Add an implicit-GEMM NHWC conv2d kernel to `mod`. */
export function emitConv2d(mod: Module, spec: Conv2dSpec): WindowKernel {
  const g = geometry(`conv2d '${spec.name}'`, spec);
  const mr = spec.mr ?? 4;
  const nr = spec.nr ?? DEFAULT_NR;
  const { Cin, Cout, relaxed } = spec;
  if (!Number.isInteger(Cin) || Cin < 1 || !Number.isInteger(Cout) || Cout < 1) {
    throw new KilnError(`conv2d '${spec.name}': Cin and Cout must be positive integers, got ${Cin}, ${Cout}`);
  }
  if (!Number.isInteger(nr) || nr % 4 !== 0 || nr < 4 || nr > 32 || !Number.isInteger(mr) || mr < 1 || mr > 8) {
    throw new KilnError(`conv2d '${spec.name}': bad register blocking mr=${mr} nr=${nr}`);
  }
  checkAddr('conv2d', spec.name, { inAddr: spec.inAddr, wPackedAddr: spec.wPackedAddr, outAddr: spec.outAddr });
  const { OH, OW } = g;
  const nv = nr / 4;
  const i32 = binaryen.i32;
  const v128 = binaryen.v128;
  const L = new Locals();
  const ITEM = L.i32(),
    N_ = L.i32(),
    OY = L.i32(),
    IMG = L.i32(), // byte offset of input image n
    IY = L.i32(),
    ROWP = L.i32(), // byte offset of input row (n, iy)
    OX0 = L.i32(), // first output column of the current interior block
    BP = L.i32(),
    COLB = L.i32(),
    AK = L.i32(),
    BK = L.i32(),
    AEND = L.i32(),
    COFF = L.i32();
  const AV = L.v128(),
    TMP = L.v128();
  const BV = Array.from({ length: nv }, () => L.v128());
  const ACC = Array.from({ length: mr }, () => Array.from({ length: nv }, () => L.v128()));

  const get = (l: number, t: binaryen.Type = i32): ExpressionRef => mod.local.get(l, t);
  const set = (l: number, e: ExpressionRef): ExpressionRef => mod.local.set(l, e);
  const c = (x: number): ExpressionRef => mod.i32.const(x);
  const add = (a: ExpressionRef, b: ExpressionRef): ExpressionRef => mod.i32.add(a, b);
  const mul = (a: ExpressionRef, x: number): ExpressionRef => mod.i32.mul(a, c(x));

  const Kdim = g.KH * g.KW * Cin;
  const panelBytes = Kdim * nr * 4;
  const pixStride = g.sw * Cin * 4; // bytes between the inputs of adjacent output pixels
  let labelId = 0;

  /** ox0 of a pixel block: a compile-time column or the OX0 local. */
  type Ox0 = { fixed: number } | 'local';
  const ox0Expr = (ox0: Ox0): ExpressionRef => (ox0 === 'local' ? get(OX0) : c(ox0.fixed));

  const ciSteps = (rows: number, vecs: number, out: ExpressionRef[], kk: number): void => {
    const fma = fuseMadd(relaxed, rows, vecs);
    for (let j = 0; j < vecs; j++) out.push(set(BV[j]!, mod.v128.load(kk * nr * 4 + j * 16, 16, get(BK))));
    for (let r = 0; r < rows; r++) {
      out.push(set(AV, mod.v128.load32_splat(spec.inAddr + r * pixStride + kk * 4, 4, get(AK))));
      for (let j = 0; j < vecs; j++) {
        out.push(set(ACC[r]![j]!, madd(mod, fma, get(AV, v128), get(BV[j]!, v128), get(ACC[r]![j]!, v128))));
      }
    }
  };

  /** Accumulate one tap (ky, kx) over all ci for the block. */
  const tap = (rows: number, vecs: number, ox0: Ox0, ky: number, kx: number): ExpressionRef[] => {
    const out: ExpressionRef[] = [];
    const colOff = (kx * g.dw - g.pl) * Cin * 4;
    const ak = ox0 === 'local' ? add(get(ROWP), add(mul(get(OX0), pixStride), c(colOff))) : add(get(ROWP), c(ox0.fixed * pixStride + colOff));
    out.push(set(AK, ak), set(BK, add(get(BP), c((ky * g.KW + kx) * Cin * nr * 4))));
    if (Cin <= 8) {
      for (let kk = 0; kk < Cin; kk++) ciSteps(rows, vecs, out, kk);
    } else {
      const label = `ci${labelId++}`;
      const body: ExpressionRef[] = [];
      ciSteps(rows, vecs, body, 0);
      body.push(set(AK, add(get(AK), c(4))), set(BK, add(get(BK), c(nr * 4))));
      body.push(mod.br(label, mod.i32.ne(get(AK), get(AEND))));
      out.push(set(AEND, add(get(AK), c(Cin * 4))), mod.loop(label, mod.block(null, body)));
    }
    return out;
  };

  const microKernel = (rows: number, cols: number, ox0: Ox0, validKx: readonly number[]): ExpressionRef[] => {
    const vecs = Math.ceil(cols / 4);
    const out: ExpressionRef[] = [];
    for (let r = 0; r < rows; r++) for (let j = 0; j < vecs; j++) out.push(set(ACC[r]![j]!, v128Zero(mod)));
    for (let ky = 0; ky < g.KH; ky++) {
      const skip = `ky${labelId++}`;
      const body: ExpressionRef[] = [
        set(IY, add(mul(get(OY), g.sh), c(ky * g.dh - g.pt))),
        mod.br(skip, mod.i32.ge_u(get(IY), c(g.H))),
        set(ROWP, add(get(IMG), mul(get(IY), g.W * Cin * 4))),
      ];
      for (const kx of validKx) body.push(...tap(rows, vecs, ox0, ky, kx));
      out.push(mod.block(skip, body));
    }
    // COFF: byte offset of output (item, ox0, panel column).
    out.push(set(COFF, add(add(mul(get(ITEM), OW * Cout * 4), mul(ox0Expr(ox0), Cout * 4)), get(COLB))));
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < vecs; j++) {
        const lanes = Math.min(4, cols - j * 4);
        const ctx: EpilogueContext = {
          mod,
          lanes,
          row: () => add(add(mul(get(ITEM), OW), ox0Expr(ox0)), c(r)),
          col: () => add(mod.i32.shr_u(get(COLB), c(2)), c(j * 4)),
          loadPerColumn: (addr) => loadLanes(mod, lanes, addr + j * 16, get(COLB)),
          loadAtOutput: (addr) => loadLanes(mod, lanes, addr + r * Cout * 4 + j * 16, get(COFF)),
        };
        const v = applyEpilogue(get(ACC[r]![j]!, v128), spec.epilogue, ctx);
        out.push(storeLanes(mod, lanes, spec.outAddr + r * Cout * 4 + j * 16, COFF, v, TMP));
      }
    }
    return out;
  };

  /** Every panel for one pixel block. */
  const allPanels = (rows: number, ox0: Ox0, validKx: readonly number[]): ExpressionRef => {
    const fullPanels = Math.floor(Cout / nr);
    const tailCols = Cout % nr;
    const out: ExpressionRef[] = [set(BP, c(spec.wPackedAddr)), set(COLB, c(0))];
    if (fullPanels > 0) {
      const label = `panels${labelId++}`;
      const body = microKernel(rows, nr, ox0, validKx);
      body.push(set(BP, add(get(BP), c(panelBytes))), set(COLB, add(get(COLB), c(nr * 4))));
      body.push(mod.br(label, mod.i32.lt_u(get(COLB), c(fullPanels * nr * 4))));
      out.push(mod.loop(label, mod.block(null, body)));
    }
    if (tailCols > 0) out.push(...microKernel(rows, tailCols, ox0, validKx));
    return mod.block(null, out);
  };

  const allKx = Array.from({ length: g.KW }, (_, kx) => kx);
  const [lo, hi] = interiorColumns(g);
  const rowBody: ExpressionRef[] = [];
  // Border columns: one pixel at a time with the taps that land inside the input.
  const border = (ox: number): ExpressionRef =>
    allPanels(1, { fixed: ox }, allKx.filter((kx) => {
      const ix = ox * g.sw - g.pl + kx * g.dw;
      return ix >= 0 && ix < g.W;
    }));
  for (let ox = 0; ox < lo; ox++) rowBody.push(border(ox));
  const interior = hi - lo;
  const fullBlocks = Math.floor(interior / mr);
  if (fullBlocks > 0) {
    const label = `blocks${labelId++}`;
    rowBody.push(
      set(OX0, c(lo)),
      mod.loop(
        label,
        mod.block(null, [
          allPanels(mr, 'local', allKx),
          set(OX0, add(get(OX0), c(mr))),
          mod.br(label, mod.i32.lt_u(get(OX0), c(lo + fullBlocks * mr))),
        ]),
      ),
    );
  }
  if (interior % mr > 0) rowBody.push(allPanels(interior % mr, { fixed: lo + fullBlocks * mr }, allKx));
  for (let ox = hi; ox < OW; ox++) rowBody.push(border(ox));

  const body = itemLoop(mod, ITEM, [
    set(N_, mod.i32.div_u(get(ITEM), c(OH))),
    set(OY, mod.i32.rem_u(get(ITEM), c(OH))),
    set(IMG, mul(get(N_), g.H * g.W * Cin * 4)),
    ...rowBody,
  ]);
  addKernel(mod, spec.name, L.list(), body);
  return { name: spec.name, workItems: g.batch * OH, OH, OW };
}

/** `for (item = start; item < end; item++) body` over the kernel's params. */
function itemLoop(mod: Module, item: number, body: ExpressionRef[]): ExpressionRef {
  const i32 = binaryen.i32;
  return mod.block(null, [
    mod.local.set(item, mod.local.get(0, i32)),
    mod.block('items_done', [
      mod.loop(
        'items',
        mod.block(null, [
          mod.br('items_done', mod.i32.ge_u(mod.local.get(item, i32), mod.local.get(1, i32))),
          ...body,
          mod.local.set(item, mod.i32.add(mod.local.get(item, i32), mod.i32.const(1))),
          mod.br('items'),
        ]),
      ),
    ]),
  ]);
}

type WindowReduce =
  | { kind: 'depthwise'; wAddr: number }
  | { kind: 'max' }
  | { kind: 'avg' };

export interface DepthwiseConv2dSpec extends Window2d {
  name: string;
  /** Channels (depth multiplier 1: output channels = input channels). */
  C: number;
  inAddr: number;
  /** Byte address of the weights [KH, KW, C] (HWIO with O = 1), unpacked. */
  wAddr: number;
  outAddr: number;
  relaxed: boolean;
  epilogue?: GemmEpilogue;
}

export interface Pool2dSpec extends Window2d {
  name: string;
  kind: 'max' | 'avg';
  C: number;
  inAddr: number;
  outAddr: number;
  epilogue?: GemmEpilogue;
}

/** Add a depthwise NHWC conv2d kernel (SIMD over channels). */
export function emitDepthwiseConv2d(mod: Module, spec: DepthwiseConv2dSpec): WindowKernel {
  checkAddr('depthwise_conv2d', spec.name, { inAddr: spec.inAddr, wAddr: spec.wAddr, outAddr: spec.outAddr });
  return emitWindow(mod, `depthwise_conv2d '${spec.name}'`, spec, spec.C, { kind: 'depthwise', wAddr: spec.wAddr }, spec.relaxed);
}

/** Add a max or average pooling NHWC kernel (SIMD over channels). */
export function emitPool2d(mod: Module, spec: Pool2dSpec): WindowKernel {
  if (spec.kind !== 'max' && spec.kind !== 'avg') {
    throw new KilnError(`pool2d '${spec.name}': kind must be 'max' or 'avg', got '${String(spec.kind)}'`);
  }
  checkAddr('pool2d', spec.name, { inAddr: spec.inAddr, outAddr: spec.outAddr });
  return emitWindow(mod, `pool2d '${spec.name}'`, spec, spec.C, { kind: spec.kind }, false);
}

/** Channel vectors held in registers per pass over the window. */
const CHANNEL_VECS = 4;

/**
 * Shared generator for per-channel window ops: for each output pixel, for
 * each group of up to 16 channels, reduce over the taps inside the input.
 * Tap validity is tested at run time (two unsigned compares per tap), which
 * also covers the padding.
 */
function emitWindow(
  mod: Module,
  op: string,
  spec: Window2d & { name: string; inAddr: number; outAddr: number; epilogue?: GemmEpilogue },
  C: number,
  reduce: WindowReduce,
  relaxed: boolean,
): WindowKernel {
  const g = geometry(op, spec);
  if (!Number.isInteger(C) || C < 1) throw new KilnError(`${op}: channels must be a positive integer, got ${C}`);
  const { OH, OW } = g;
  const i32 = binaryen.i32;
  const v128 = binaryen.v128;
  const L = new Locals();
  const ITEM = L.i32(),
    N_ = L.i32(),
    OY = L.i32(),
    OX = L.i32(),
    IY = L.i32(),
    IX = L.i32(),
    INP = L.i32(), // byte offset of input pixel (n, iy, ix, 0)
    CB = L.i32(), // channel byte offset of the current group
    OUTP = L.i32(), // byte offset of output pixel (item, ox, 0)
    COFF = L.i32(),
    CNT = L.i32(); // valid taps (avg)
  const TMP = L.v128();
  const ACC = Array.from({ length: CHANNEL_VECS }, () => L.v128());
  const get = (l: number, t: binaryen.Type = i32): ExpressionRef => mod.local.get(l, t);
  const set = (l: number, e: ExpressionRef): ExpressionRef => mod.local.set(l, e);
  const c = (x: number): ExpressionRef => mod.i32.const(x);
  const add = (a: ExpressionRef, b: ExpressionRef): ExpressionRef => mod.i32.add(a, b);
  const mul = (a: ExpressionRef, x: number): ExpressionRef => mod.i32.mul(a, c(x));
  let labelId = 0;

  /** Window pass over `vecs` vectors; the last has `lastLanes` valid lanes. */
  const group = (vecs: number, lastLanes: number): ExpressionRef[] => {
    const lanesOf = (j: number): number => (j === vecs - 1 ? lastLanes : 4);
    const init = reduce.kind === 'max' ? f32x4Const(mod, -Infinity) : v128Zero(mod);
    const out: ExpressionRef[] = [];
    for (let j = 0; j < vecs; j++) out.push(set(ACC[j]!, init));
    if (reduce.kind === 'avg') out.push(set(CNT, c(0)));
    for (let ky = 0; ky < g.KH; ky++) {
      for (let kx = 0; kx < g.KW; kx++) {
        const skip = `tap${labelId++}`;
        const body: ExpressionRef[] = [
          set(IY, add(mul(get(OY), g.sh), c(ky * g.dh - g.pt))),
          set(IX, add(mul(get(OX), g.sw), c(kx * g.dw - g.pl))),
          mod.br(skip, mod.i32.or(mod.i32.ge_u(get(IY), c(g.H)), mod.i32.ge_u(get(IX), c(g.W)))),
          set(INP, add(add(mul(get(N_), g.H * g.W * C * 4), mul(get(IY), g.W * C * 4)), add(mul(get(IX), C * 4), get(CB)))),
        ];
        for (let j = 0; j < vecs; j++) {
          const x = loadLanes(mod, lanesOf(j), spec.inAddr + j * 16, get(INP));
          const acc = get(ACC[j]!, v128);
          let next: ExpressionRef;
          if (reduce.kind === 'depthwise') {
            const w = loadLanes(mod, lanesOf(j), reduce.wAddr + (ky * g.KW + kx) * C * 4 + j * 16, get(CB));
            next = madd(mod, relaxed, x, w, acc);
          } else if (reduce.kind === 'max') {
            next = mod.f32x4.max(acc, x);
          } else {
            next = mod.f32x4.add(acc, x);
          }
          body.push(set(ACC[j]!, next));
        }
        if (reduce.kind === 'avg') body.push(set(CNT, add(get(CNT), c(1))));
        out.push(mod.block(skip, body));
      }
    }
    out.push(set(COFF, add(get(OUTP), get(CB))));
    for (let j = 0; j < vecs; j++) {
      const lanes = lanesOf(j);
      let v = get(ACC[j]!, v128);
      if (reduce.kind === 'avg') {
        v = mod.f32x4.div(v, mod.f32x4.splat(mod.f32.convert_u.i32(get(CNT))));
      }
      const ctx: EpilogueContext = {
        mod,
        lanes,
        row: () => add(mul(get(ITEM), OW), get(OX)),
        col: () => add(mod.i32.shr_u(get(CB), c(2)), c(j * 4)),
        loadPerColumn: (addr) => loadLanes(mod, lanes, addr + j * 16, get(CB)),
        loadAtOutput: (addr) => loadLanes(mod, lanes, addr + j * 16, get(COFF)),
      };
      v = applyEpilogue(v, spec.epilogue, ctx);
      out.push(storeLanes(mod, lanes, spec.outAddr + j * 16, COFF, v, TMP));
    }
    return out;
  };

  const groupBytes = CHANNEL_VECS * 16;
  const fullGroups = Math.floor(C / (CHANNEL_VECS * 4));
  const rest = C - fullGroups * CHANNEL_VECS * 4;
  const pixel: ExpressionRef[] = [set(OUTP, mul(add(mul(get(ITEM), OW), get(OX)), C * 4)), set(CB, c(0))];
  if (fullGroups > 0) {
    pixel.push(
      mod.loop(
        'groups',
        mod.block(null, [
          ...group(CHANNEL_VECS, 4),
          set(CB, add(get(CB), c(groupBytes))),
          mod.br('groups', mod.i32.lt_u(get(CB), c(fullGroups * groupBytes))),
        ]),
      ),
    );
  }
  if (rest > 0) pixel.push(...group(Math.ceil(rest / 4), rest % 4 === 0 ? 4 : rest % 4));

  const body = itemLoop(mod, ITEM, [
    set(N_, mod.i32.div_u(get(ITEM), c(OH))),
    set(OY, mod.i32.rem_u(get(ITEM), c(OH))),
    set(OX, c(0)),
    mod.loop(
      'pixels',
      mod.block(null, [...pixel, set(OX, add(get(OX), c(1))), mod.br('pixels', mod.i32.lt_u(get(OX), c(OW)))]),
    ),
  ]);
  addKernel(mod, spec.name, L.list(), body);
  return { name: spec.name, workItems: g.batch * OH, OH, OW };
}
