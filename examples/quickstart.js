// Kiln quick start: define a small Keras CNN, trace it to IR, optimize and fuse it, compile it to
// a one-file WebAssembly artifact, load it with the lean runtime, and check it against the
// reference interpreter. Run with `npm run demo` (builds first); `npm run demo -- --full` prints the
// IR's constants whole (by default those over 16 values print as their count, `{<288 values>}`).
import * as kiln from 'kiln';
import { load } from 'kiln/runtime';

const model = kiln.sequential({
  layers: [
    kiln.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1] }),
    kiln.layers.maxPooling2d({ poolSize: 2 }),
    kiln.layers.flatten(),
    kiln.layers.dense({ units: 10, activation: 'softmax' }),
  ],
});
model.summary();

// 1. Trace: the model's forward pass as Kiln IR (batch 1).
const func = kiln.toFunc(model, { inputShapes: [[1, 28, 28, 1]] });
const full = process.argv.includes('--full');
console.log(`\n== Traced IR ==${full ? '' : ' (constants over 16 values elided; --full prints them)'}`);
console.log(kiln.ir.printFunc(func, full ? {} : { elideConstants: 16 }));

// 2. Compile: optimize, fuse, lower to WebAssembly SIMD, plan memory, pack one artifact.
const t0 = performance.now();
const artifact = kiln.compile(model, { inputShapes: [[1, 28, 28, 1]] });
const ms = (performance.now() - t0).toFixed(0);
console.log('== Fusion plan ==');
console.log(artifact.explain());
const mem = artifact.memory;
console.log(`compiled in ${ms} ms: ${artifact.bytes.length} bytes, ${artifact.program.kernels.length} kernels, ` +
  `arena peak ${mem.peakBytes} B vs ${mem.sumIntermediateBytes} B of intermediates unplanned`);
await artifact.save('quickstart.kiln');
console.log('saved quickstart.kiln');

// 3. Run: the runtime imports nothing from the compiler.
const prog = await load(artifact.bytes);
const x = new Float32Array(28 * 28).map((_, i) => Math.sin(i));
const { [prog.outputs[0].name]: y } = await prog.run({ [prog.inputs[0].name]: x });
prog.dispose();

// 4. Check against the reference interpreter (tfjs-core kernels).
model.runEagerly = true;
const ref = model.predict(kiln.tensor(x, [1, 28, 28, 1])).dataSync();
let maxDiff = 0;
for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i] - y[i]));
console.log(`\nclass probabilities: [${Array.from(y, (v) => v.toFixed(4)).join(', ')}]`);
console.log(`threads: ${prog.threads}, variant: ${prog.variant}, max |compiled - interpreter| = ${maxDiff.toExponential(2)}`);
if (!(maxDiff < 1e-5)) { console.error('MISMATCH'); process.exit(1); }
console.log('OK');
