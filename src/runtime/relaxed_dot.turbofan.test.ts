// The relaxed int8 dot probe with V8's optimizing tier only (where V8 11.3 computes it exactly).
import v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
v8.setFlagsFromString('--no-liftoff');
(globalThis as { __kilnNoLiftoff?: boolean }).__kilnNoLiftoff = true;
await import('./relaxed_dot.test.js');
