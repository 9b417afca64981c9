// The int8 GEMM suite again with V8's optimizing tier only: Liftoff and TurboFan lower SIMD (and
// the relaxed dot product) separately, and V8 11.3's Liftoff has computed the relaxed dot wrongly.
import v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
v8.setFlagsFromString('--no-liftoff');
await import('./gemm_i8.test.js');
