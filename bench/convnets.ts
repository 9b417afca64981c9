/**
 * ImageNet-sized convnets for the compile-time benchmark, built with Kiln's functional API and
 * random weights: MobileNetV2 (alpha 1, 224x224, ~3.5 M weights: inverted residual blocks of 1x1
 * expand, 3x3 depthwise, 1x1 project, batch norm, ReLU6, residual adds) and InceptionV3 (299x299,
 * ~23.8 M weights: the stem, 3 mixed 35x35 blocks, 4 mixed 17x17 blocks with 1x7 / 7x1
 * factorized convs, 2 mixed 8x8 blocks, reductions between), both as Keras Applications define
 * them. Compile time depends on the shapes and the weight count, not on the weight values.
 */
type KilnModule = typeof import('kiln');
type Functional = ReturnType<KilnModule['model']>;
type T = ReturnType<KilnModule['input']>;

function builders(kiln: KilnModule) {
  const L = kiln.layers;
  const ap = (l: { apply(x: T | T[]): unknown }, x: T | T[]): T => l.apply(x) as T;
  /** conv (no bias) -> batch norm -> relu / relu6 / nothing. */
  const cbr = (x: T, f: number, kh: number, kw: number, s = 1, pad: 'same' | 'valid' = 'same', act: 'relu' | 'relu6' | 'linear' = 'relu'): T => {
    x = ap(L.conv2d({ filters: f, kernelSize: [kh, kw], strides: s, padding: pad, useBias: false }), x);
    x = ap(L.batchNormalization({}), x);
    if (act === 'relu6') return ap(L.reLU({ maxValue: 6 }), x);
    return act === 'linear' ? x : ap(L.activation({ activation: 'relu' }), x);
  };
  return { L, ap, cbr };
}

export const MOBILENET_V2_INPUT = [224, 224, 3] as const;
export const INCEPTION_V3_INPUT = [299, 299, 3] as const;

/** `options.input` another input size; `options.logits` ends with the dense layer's logits (no softmax). */
export function mobilenetV2(kiln: KilnModule, options: { input?: readonly [number, number, number]; logits?: boolean } = {}): Functional {
  const { L, ap, cbr } = builders(kiln);
  const inp = kiln.input({ shape: [...(options.input ?? MOBILENET_V2_INPUT)] });
  let x = cbr(inp, 32, 3, 3, 2, 'same', 'relu6');
  let cin = 32;
  for (const [t, c, n, s] of [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]] as const) {
    for (let i = 0; i < n; i++) {
      const st = i === 0 ? s : 1;
      let y = x;
      if (t !== 1) y = cbr(y, cin * t, 1, 1, 1, 'same', 'relu6');
      y = ap(L.depthwiseConv2d({ kernelSize: 3, strides: st, padding: 'same', useBias: false }), y);
      y = ap(L.batchNormalization({}), y);
      y = ap(L.reLU({ maxValue: 6 }), y);
      y = cbr(y, c, 1, 1, 1, 'same', 'linear');
      x = st === 1 && cin === c ? ap(L.add({}), [x, y]) : y;
      cin = c;
    }
  }
  x = cbr(x, 1280, 1, 1, 1, 'same', 'relu6');
  x = ap(L.globalAveragePooling2d({}), x);
  x = ap(L.dense({ units: 1000, activation: options.logits ? 'linear' : 'softmax' }), x);
  return kiln.model({ inputs: inp, outputs: x });
}

export function inceptionV3(kiln: KilnModule): Functional {
  const { L, ap, cbr } = builders(kiln);
  const inp = kiln.input({ shape: [...INCEPTION_V3_INPUT] });
  const cat = (xs: T[]): T => ap(L.concatenate({}), xs);
  const mp = (x: T): T => ap(L.maxPooling2d({ poolSize: 3, strides: 2, padding: 'valid' }), x);
  const avg = (x: T): T => ap(L.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same' }), x);
  let x = cbr(inp, 32, 3, 3, 2, 'valid'); x = cbr(x, 32, 3, 3, 1, 'valid'); x = cbr(x, 64, 3, 3); x = mp(x);
  x = cbr(x, 80, 1, 1, 1, 'valid'); x = cbr(x, 192, 3, 3, 1, 'valid'); x = mp(x);
  for (const pf of [32, 64, 64]) {
    x = cat([cbr(x, 64, 1, 1), cbr(cbr(x, 48, 1, 1), 64, 5, 5), cbr(cbr(cbr(x, 64, 1, 1), 96, 3, 3), 96, 3, 3), cbr(avg(x), pf, 1, 1)]);
  }
  x = cat([cbr(x, 384, 3, 3, 2, 'valid'), cbr(cbr(cbr(x, 64, 1, 1), 96, 3, 3), 96, 3, 3, 2, 'valid'), mp(x)]);
  for (const c of [128, 160, 160, 192]) {
    const b7 = cbr(cbr(cbr(x, c, 1, 1), c, 1, 7), 192, 7, 1);
    const bd = cbr(cbr(cbr(cbr(cbr(x, c, 1, 1), c, 7, 1), c, 1, 7), c, 7, 1), 192, 1, 7);
    x = cat([cbr(x, 192, 1, 1), b7, bd, cbr(avg(x), 192, 1, 1)]);
  }
  x = cat([cbr(cbr(x, 192, 1, 1), 320, 3, 3, 2, 'valid'), cbr(cbr(cbr(cbr(x, 192, 1, 1), 192, 1, 7), 192, 7, 1), 192, 3, 3, 2, 'valid'), mp(x)]);
  for (let i = 0; i < 2; i++) {
    const b3 = cbr(x, 384, 1, 1);
    const bd = cbr(cbr(x, 448, 1, 1), 384, 3, 3);
    x = cat([cbr(x, 320, 1, 1), cat([cbr(b3, 384, 1, 3), cbr(b3, 384, 3, 1)]), cat([cbr(bd, 384, 1, 3), cbr(bd, 384, 3, 1)]), cbr(avg(x), 192, 1, 1)]);
  }
  x = ap(L.globalAveragePooling2d({}), x);
  x = ap(L.dense({ units: 1000, activation: 'softmax' }), x);
  return kiln.model({ inputs: inp, outputs: x });
}
