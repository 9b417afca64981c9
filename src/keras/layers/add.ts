/** Add: the elementwise sum of its inputs. Shapes must match (a 1 broadcasts, as in Keras). */
import type { DType } from '../../ir/dtype.js';
import { ops, type Tensor } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { Merge } from './merge.js';
import { checkLayerArgs } from './args.js';

export class Add extends Merge {
  static override className = 'Add';

  constructor(args: LayerArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: [] });
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    this.computeOutputShape(this.shapeList(shape, dtype));
  }

  /** Broadcast the shapes right-aligned; two known sizes must be equal or one of them 1. */
  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const shapes = this.shapeList(inputShape);
    const rank = Math.max(...shapes.map((s) => s.length));
    const out: (number | null)[] = [];
    for (let i = 0; i < rank; i++) {
      let d: number | null = 1;
      for (const s of shapes) {
        const k = s.length - rank + i;
        const e = k < 0 ? 1 : s[k]!;
        if (e === 1) continue;
        if (d === 1) d = e;
        else if (e !== null && d !== null && e !== d) {
          this.fail(`input shapes do not match: ${shapes.map((x) => shapeToString(x)).join(', ')}`);
        } else if (d === null) d = e;
      }
      out.push(d);
    }
    return out;
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const xs = this.tensorList(inputs);
    return xs.slice(1).reduce((acc, x) => ops.add(acc, x), xs[0]!);
  }

  override getConfig(): LayerConfig {
    return super.getConfig();
  }

  static fromConfig(config: LayerConfig): Add {
    return new Add(config);
  }
}
registerLayer(Add);

export function add(args: LayerArgs = {}): Add {
  return new Add(args);
}
