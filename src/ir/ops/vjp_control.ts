import type { TupleVjpRule } from '../registry.js';
import { KilnError } from '../types.js';

export const condVjp: TupleVjpRule = () => { throw new KilnError('cond: VJP not yet implemented'); };
export const whileVjp: TupleVjpRule = () => { throw new KilnError('while: VJP not yet implemented'); };
export const scanVjp: TupleVjpRule = () => { throw new KilnError('scan: VJP not yet implemented'); };
