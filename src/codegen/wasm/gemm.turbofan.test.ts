// The GEMM suite again with V8's optimizing tier only: Liftoff and TurboFan
// lower SIMD (and relaxed FMA) separately, and the baseline tier has had
// relaxed-SIMD miscompiles, so both tiers are checked.
import v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
v8.setFlagsFromString('--no-liftoff');
await import('./gemm.test.js');
