export * from './frontend/index.js';
export * as layers from './keras/layers/index.js';
export * as initializers from './keras/initializers.js';
export * as activations from './keras/activations.js';
export {
  input, model, sequential, InputLayer, KerasTensor, Layer, Model, Functional, Sequential,
  deserializeLayer, registerLayer, resetLayerNames,
  type InputArgs, type KerasShape, type CallArgs, type LayerArgs, type LayerConfig, type SerializedLayer,
  type PredictArgs, type FunctionalArgs, type FunctionalConfig, type SequentialArgs, type SequentialConfig,
} from './keras/index.js';
