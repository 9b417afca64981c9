// The scenario test/browser/compiler.mjs runs twice, with the same code and weights: in Node on
// the Node bundle of `kiln`, and in headless Chromium on the browser bundle. It builds a small
// CNN, sets deterministic weights, compiles it (timed), runs the artifact through the runtime,
// runs the same model on the reference interpreter, and trains it with `fit` (compiled training
// steps; no shuffle) for a few epochs. Everything it returns is plain JSON.

/** Deterministic values in [-0.5, 0.5) scaled by `scale`. */
function wave(n, phase, scale) {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.37 + phase) * 0.5 * scale);
}

/** @param {any} kiln the bundled `kiln` module; @param {any} runtime the bundled `kiln/runtime` module */
export async function scenario(kiln, runtime) {
  const model = kiln.sequential({ layers: [
    kiln.layers.conv2d({ filters: 6, kernelSize: 3, activation: 'relu', inputShape: [8, 8, 2] }),
    kiln.layers.maxPooling2d({ poolSize: 2 }),
    kiln.layers.flatten(),
    kiln.layers.dense({ units: 16, activation: 'tanh' }),
    kiln.layers.dense({ units: 3 }),
  ] });
  model.setWeights(model.getWeights().map((w, k) => {
    const n = w.shape.reduce((a, b) => a * b, 1);
    return kiln.tensor(wave(n, k, 1 / Math.sqrt(Math.max(1, w.shape.slice(0, -1).reduce((a, b) => a * b, 1)))), w.shape);
  }));
  const N = 32;
  const x = wave(N * 8 * 8 * 2, 0.3, 2);
  const y = wave(N * 3, 1.1, 1);

  const t0 = performance.now();
  const art = kiln.compile(model, { inputShapes: [[4, 8, 8, 2]] });
  const compileMs = performance.now() - t0;
  const prog = await runtime.load(art.bytes);
  const xs = x.subarray(0, 4 * 8 * 8 * 2);
  const out = await prog.run({ [prog.inputs[0].name]: xs });
  const artifactY = Array.from(out[prog.outputs[0].name]);
  const artifactThreads = prog.threads;
  prog.dispose();
  model.runEagerly = true;
  const interpreterY = Array.from(model.predict(kiln.tensor(xs, [4, 8, 8, 2])).dataSync());
  model.runEagerly = false;

  model.compile({ optimizer: kiln.optimizers.adam({ learningRate: 0.01 }), loss: 'meanSquaredError' });
  const before = kiln.compileCount('training');
  const t1 = performance.now();
  const history = await model.fit(kiln.tensor(x, [N, 8, 8, 2]), kiln.tensor(y, [N, 3]), { epochs: 4, batchSize: 8, shuffle: false, verbose: 0 });
  const fitMs = performance.now() - t1;
  return {
    compileMs, fitMs, artifactBytes: art.bytes.length, artifactThreads, artifactY, interpreterY,
    losses: Array.from(history.history.loss, Number), trainingCompiles: kiln.compileCount('training') - before,
  };
}
