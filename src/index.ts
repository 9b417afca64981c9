export * from './frontend/index.js';
export * as layers from './keras/layers/index.js';
export * as initializers from './keras/initializers.js';
export * as activations from './keras/activations.js';
export * as regularizers from './keras/regularizers.js';
export * as constraints from './keras/constraints.js';
export * as optimizers from './keras/optimizers/index.js';
export * as losses from './keras/losses.js';
export * as metrics from './keras/metrics.js';
export * as data from './keras/data/index.js';
export {
  input, model, sequential, InputLayer, KerasTensor, Layer, Model, Functional, Sequential,
  deserializeLayer, registerLayer, resetLayerNames,
  type InputArgs, type KerasShape, type CallArgs, type LayerArgs, type LayerConfig, type SerializedLayer,
  type PredictArgs, type FunctionalArgs, type FunctionalConfig, type SequentialArgs, type SequentialConfig,
} from './keras/index.js';
export { compile, compileEntries, explain, toFunc, CompiledArtifact, type CompileOptions, type QuantizeOptions, type QuantizeMode, type CompileStage, type ExplainOptions, type Compilable, type Entry, type StateTensor } from './compile.js';
export type { Int8QuantizeOptions, CalibrationData, CalibrationBatch } from './quantize_options.js';
export { useCompiledExecution, compiledProgramCount, compileCount, onCompile, type CompileEvent, type CompileKind } from './exec.js';
export { explainPlan } from './passes/explain.js';
export { planFusion } from './passes/fusion_plan.js';
export * as ir from './ir/index.js';
export * as passes from './passes/index.js';

import { useCompiledExecution } from './exec.js';
// `import * as kiln from 'kiln'` runs traced functions and Keras predict as compiled WebAssembly.
useCompiledExecution(true);
export { loadLayersModel, type LoadLayersModelOptions, type SaveOptions } from './keras/index.js';
export type { IOHandler, ModelArtifacts, SaveResult, ModelJson, WeightSpec, WeightGroup } from './frontend/io/formats.js';
export type { ModelSource, ModelDestination } from './frontend/io/source.js';
export { callbacks, type ModelCompileArgs, type ModelFitArgs, type ModelEvaluateArgs } from './keras/index.js';
export {
  loadGraphModel, GraphModel,
  type LoadGraphModelOptions, type GraphTensorInfo, type GraphModelInputs, type GraphModelSource,
} from './frontend/import/graph_model.js';

// AutoGraph resolves a user layer's `kiln.x` reads to this module (frontend/autograph/convert.ts).
import { setAutographNamespace } from './frontend/autograph/index.js';
import * as kilnModule from './index.js';
setAutographNamespace(kilnModule);
