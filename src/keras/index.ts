/**
 * Kiln's Keras API (TensorFlow.js spelling): layers, Sequential and functional models,
 * activations and initializers.
 */
export * as layers from './layers/index.js';
export * as initializers from './initializers.js';
export * as activations from './activations.js';
export * as regularizers from './regularizers.js';
export * as constraints from './constraints.js';
export { input, InputLayer, type InputArgs } from './engine/input.js';
export { KerasTensor, Node, shapeToString, type KerasShape } from './engine/keras_tensor.js';
export {
  Layer, deserializeLayer, registerLayer, resetLayerNames,
  type CallArgs, type LayerArgs, type LayerConfig, type SerializedLayer,
} from './engine/layer.js';
export { Model, type PredictArgs } from './engine/model.js';
export { Functional, model, type FunctionalArgs, type FunctionalConfig } from './engine/functional.js';
export { Sequential, sequential, type SequentialArgs, type SequentialConfig } from './engine/sequential.js';
export * as optimizers from './optimizers/index.js';
export * as losses from './losses.js';
export * as metrics from './metrics.js';
export * as callbacks from './callbacks/index.js';
export {
  type ModelCompileArgs, type ModelFitArgs, type ModelEvaluateArgs, getLearningRate, setLearningRate, trainingProgram,
} from './engine/training.js';
export {
  getTrainingState, setTrainingState, getOptimizerState, setOptimizerState, type TrainingState, type StateTensor,
} from './engine/training_state.js';
export { loadLayersModel, type LoadLayersModelOptions } from './saving/load.js';
export { type SaveOptions } from './saving/save.js';
export * as data from './data/index.js';

