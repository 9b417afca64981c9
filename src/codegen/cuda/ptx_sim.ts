/**
 * Test helper: a tiny sequential interpreter for the PTX subset the loop-kernel emitter produces
 * (integer/f32 arithmetic, predicates, branches, scalar and v4 global loads/stores), so tests
 * without a GPU can run a kernel on real data and compare the vectorized and scalar emissions
 * bit for bit. Threads run one after another, which is faithful only for kernels whose threads
 * never communicate (no shfl, no bar.sync, no shared memory): it throws on anything else.
 * f32 math uses Math.fround per instruction; fma rounds twice (a*b is exact in a double), which
 * can differ from hardware in the last bit but is the same for both emissions being compared.
 */
import type { PtxLaunch } from './ptx.js';

type Reg = number;

interface Inst {
  readonly pred?: { reg: string; neg: boolean };
  readonly op: string;
  readonly args: string[];
}

interface Entry {
  readonly insts: Inst[];
  readonly labels: Map<string, number>;
}

function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0, cur = '';
  for (const ch of s) {
    if (ch === '{' || ch === '[') depth++;
    if (ch === '}' || ch === ']') depth--;
    if (ch === ',' && depth === 0) { out.push(cur.trim()); cur = ''; } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** Parse every `.entry` of a module into instruction lists. */
export function parsePtx(ptx: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const re = /\.entry (\w+)\([^)]*\)\s*\{([\s\S]*?)\n\}/g;
  for (let m = re.exec(ptx); m; m = re.exec(ptx)) {
    const insts: Inst[] = [];
    const labels = new Map<string, number>();
    for (const raw of m[2]!.split('\n')) {
      const line = raw.trim();
      if (!line || line.startsWith('.reg') || line.startsWith('//')) continue;
      if (line.endsWith(':')) { labels.set(line.slice(0, -1), insts.length); continue; }
      let body = line.replace(/;$/, '');
      let pred: Inst['pred'];
      const pm = /^@(!?)(%p\d+)\s+/.exec(body);
      if (pm) { pred = { reg: pm[2]!, neg: pm[1] === '!' }; body = body.slice(pm[0].length); }
      const sp = body.indexOf(' ');
      const op = sp < 0 ? body : body.slice(0, sp);
      insts.push({ pred, op, args: sp < 0 ? [] : splitArgs(body.slice(sp + 1)) });
    }
    out.set(m[1]!, { insts, labels });
  }
  return out;
}

const F = new Float32Array(1);
const U = new Uint32Array(F.buffer);
const bitsToF = (u: number) => { U[0] = u >>> 0; return F[0]!; };
const fToBits = (f: number) => { F[0] = f; return U[0]! | 0; };
const fr = Math.fround;

/** Run one kernel over work items [0, work) on `mem` (the device memory image). */
export function runKernel(entry: Entry, launch: PtxLaunch, work: number, mem: DataView, name: string): void {
  if (launch.threadsPerItem === 0) throw new Error('ptx_sim: gemm tiles are not simulated');
  for (let cta = 0; cta < launch.grid[0]; cta++) {
    for (let tid = 0; tid < launch.block[0]; tid++) runThread(entry, launch, work, mem, cta, tid, name);
  }
}

function runThread(entry: Entry, launch: PtxLaunch, work: number, mem: DataView, cta: number, tid: number, name: string): void {
  const regs = new Map<string, Reg>();
  const special: Record<string, number> = { '%tid.x': tid, '%ctaid.x': cta, '%ntid.x': launch.block[0], '%nctaid.x': launch.grid[0] };
  const params: Record<string, number> = { [`${name}_param_0`]: 0, [`${name}_param_1`]: 0, [`${name}_param_2`]: work };
  const val = (a: string): number => {
    if (a.startsWith('%')) {
      if (a in special) return special[a]!;
      const v = regs.get(a);
      if (v === undefined) throw new Error(`ptx_sim: ${a} read before written`);
      return v;
    }
    if (/^0f[0-9A-F]{8}$/.test(a)) return bitsToF(parseInt(a.slice(2), 16));
    if (/^-?\d+$/.test(a)) return Number(a);
    throw new Error(`ptx_sim: operand ${a}`);
  };
  const addr = (a: string): number => {
    const m = /^\[([^\]+]+)(?:\+(-?\d+))?\]$/.exec(a);
    if (!m) throw new Error(`ptx_sim: address ${a}`);
    if (m[1]! in params) return params[m[1]!]!;
    return val(m[1]!) + Number(m[2] ?? 0);
  };
  const vec = (a: string) => a.replace(/[{}]/g, '').split(',').map((x) => x.trim());
  const set = (r: string, v: number) => regs.set(r, v);
  const { insts, labels } = entry;
  for (let pc = 0, steps = 0; pc < insts.length; pc++) {
    if (++steps > 5e6) throw new Error('ptx_sim: runaway thread');
    const ins = insts[pc]!;
    if (ins.pred && (val(ins.pred.reg) !== 0) === ins.pred.neg) continue;
    const [d, a, b, c] = ins.args as [string, string, string, string];
    const parts = ins.op.split('.');
    const base = parts[0]!;
    const ty = parts[parts.length - 1]!;
    const isF = ty === 'f32';
    const i32 = (x: number) => x | 0;
    switch (base) {
      case 'ret': return;
      case 'bra': pc = labels.get(d)! - 1; break;
      case 'ld':
        if (parts[1] === 'param') { set(d, addr(a)); break; }
        if (parts[2] === 'v4') { const at = addr(a); vec(d).forEach((r, k) => set(r, mem.getFloat32(at + 4 * k, true))); break; }
        if (ty === 'f32') set(d, mem.getFloat32(addr(a), true));
        else if (ty === 'b32' || ty === 's32' || ty === 'u32') set(d, mem.getInt32(addr(a), true));
        else if (ty === 'u8') set(d, mem.getUint8(addr(a)));
        else if (ty === 's8') set(d, mem.getInt8(addr(a)));
        else throw new Error(`ptx_sim: ${ins.op}`);
        break;
      case 'st':
        if (parts[2] === 'v4') { const at = addr(d); vec(a).forEach((r, k) => mem.setFloat32(at + 4 * k, val(r), true)); break; }
        if (ty === 'f32') mem.setFloat32(addr(d), val(a), true);
        else if (ty === 'b32') mem.setInt32(addr(d), val(a), true);
        else if (ty === 'u8') mem.setUint8(addr(d), val(a) & 255);
        else throw new Error(`ptx_sim: ${ins.op}`);
        break;
      case 'cvta': set(d, val(a)); break;
      case 'mov':
        if (ty === 'b32' && d.startsWith('%f') && a.startsWith('%r')) set(d, bitsToF(val(a)));
        else if (ty === 'b32' && d.startsWith('%r') && a.startsWith('%f')) set(d, fToBits(val(a)));
        else set(d, isF ? fr(val(a)) : i32(val(a)));
        break;
      case 'add': set(d, isF ? fr(val(a) + val(b)) : ty === 's64' ? val(a) + val(b) : i32(val(a) + val(b))); break;
      case 'sub': set(d, isF ? fr(val(a) - val(b)) : i32(val(a) - val(b))); break;
      case 'mul':
        if (parts[1] === 'wide') set(d, val(a) * val(b));
        else set(d, isF ? fr(val(a) * val(b)) : Math.imul(val(a), val(b)));
        break;
      case 'mad': set(d, i32(Math.imul(val(a), val(b)) + val(c))); break;
      case 'fma': set(d, fr(val(a) * val(b) + val(c))); break;
      case 'div':
        if (isF) set(d, fr(val(a) / val(b)));
        else if (ty === 'u32') set(d, i32(Math.floor((val(a) >>> 0) / (val(b) >>> 0))));
        else set(d, i32(Math.trunc(val(a) / val(b))));
        break;
      case 'rem': set(d, ty === 'u32' ? i32((val(a) >>> 0) % (val(b) >>> 0)) : i32(val(a) % val(b))); break;
      case 'max': case 'min': {
        const x = val(a), y = val(b);
        if (isF && (Number.isNaN(x) || Number.isNaN(y))) { set(d, parts[1] === 'NaN' ? NaN : Number.isNaN(x) ? y : x); break; }
        set(d, base === 'max' ? Math.max(x, y) : Math.min(x, y));
        break;
      }
      case 'neg': set(d, isF ? -val(a) : i32(-val(a))); break;
      case 'abs': set(d, isF ? Math.abs(val(a)) : i32(Math.abs(val(a)))); break;
      case 'and': set(d, ty === 'pred' ? Number(val(a) && val(b)) : val(a) & val(b)); break;
      case 'or': set(d, ty === 'pred' ? Number(val(a) || val(b)) : val(a) | val(b)); break;
      case 'xor': set(d, val(a) ^ val(b)); break;
      case 'shl': set(d, val(a) << val(b)); break;
      case 'shr': set(d, ty === 's32' ? val(a) >> val(b) : i32(val(a) >>> val(b))); break;
      case 'selp': set(d, val(c) ? val(a) : val(b)); break;
      case 'setp': {
        const cmp = parts[1]!;
        const x = val(a), y = val(b);
        const nan = isF && (Number.isNaN(x) || Number.isNaN(y));
        const r: Record<string, () => boolean> = {
          eq: () => x === y, ne: () => x !== y, lt: () => x < y, le: () => x <= y, gt: () => x > y, ge: () => x >= y,
          neu: () => nan || x !== y, nan: () => nan,
        };
        if (!(cmp in r)) throw new Error(`ptx_sim: ${ins.op}`);
        set(d, Number(r[cmp]!()));
        break;
      }
      case 'cvt': {
        const x = val(a);
        const mode = parts[1]!;
        if (ins.op === 'cvt.rn.f32.s32') set(d, fr(x));
        else if (ins.op === 'cvt.rn.f32.u32') set(d, fr(x >>> 0));
        else if (ins.op === 'cvt.rzi.s32.f32') set(d, Number.isNaN(x) ? 0 : i32(Math.max(-2147483648, Math.min(2147483647, Math.trunc(x)))));
        else if (mode === 'rni' && parts[2] === 'f32') set(d, x - Math.floor(x) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x));
        else if (mode === 'rmi') set(d, Math.floor(x));
        else if (mode === 'rpi') set(d, Math.ceil(x));
        else throw new Error(`ptx_sim: ${ins.op}`);
        break;
      }
      case 'sqrt': set(d, fr(Math.sqrt(val(a)))); break;
      case 'ex2': set(d, fr(2 ** val(a))); break;
      default:
        throw new Error(`ptx_sim: unsupported instruction ${ins.op}`);
    }
  }
}
