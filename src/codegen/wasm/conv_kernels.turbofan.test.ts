// The conv/depthwise/pooling suite again with V8's optimizing tier only.
import v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
v8.setFlagsFromString('--no-liftoff');
await import('./conv_kernels.test.js');
