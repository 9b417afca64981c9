/**
 * kiln/runtime's CUDA executor (Node.js only): load "cuda" artifacts and run them on an NVIDIA
 * GPU through the kiln_cuda addon, which dlopens the driver at run time.
 */
export { loadCuda, CudaProgram } from './executor.js';
export type { CudaLoadOptions, CudaTensorInfo, CudaDeviceInfo, CudaStats, CudaRunOptions, CudaEntryPoint } from './executor.js';
export { checkCudaManifest } from './manifest.js';
export type { CudaManifest, CudaSpec, CudaLaunchSpec } from './manifest.js';
export type { CudaDriver } from './addon.js';
