/**
 * The serialized formats Kiln reads and writes for models, typed in one place: TensorFlow.js's
 * model.json (LayersModel and GraphModel), its weights manifest, the `ModelArtifacts` /
 * `IOHandler` shapes of tfjs-core's io API (so tfjs's own handlers, such as browser files or
 * IndexedDB, plug in unchanged), the Keras topology JSON (snake_case keys on disk, Keras 2
 * and Keras 3 dialects), and a GraphModel's GraphDef as tfjs-converter writes it (protobuf JSON:
 * int64 values as decimal strings, bytes as base64; decoded in src/frontend/import/graph_def.ts).
 */

/** A tensor's stored dtype in a weights manifest (tfjs names). */
export type WeightDType = 'float32' | 'int32' | 'bool' | 'string' | 'complex64';

/** How a weight is quantized on disk: `value = q * scale + min` (uint8/uint16) or IEEE half. */
export interface WeightQuantization {
  dtype: 'uint8' | 'uint16' | 'float16';
  min?: number;
  scale?: number;
  original_dtype?: string;
}

/** One tensor in a weights manifest: its name, shape and dtype, stored back to back. */
export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: WeightDType | string;
  quantization?: WeightQuantization;
  /** tfjs-layers marks optimizer slots with group 'optimizer' (includeOptimizer). */
  group?: 'model' | 'optimizer' | string;
}

/** A group of weights whose bytes are the concatenation of `paths` (the shards). */
export interface WeightGroup {
  paths: string[];
  weights: WeightSpec[];
}

/** `trainingConfig` as tfjs-layers writes it with includeOptimizer. */
export interface TrainingConfigJson {
  /** A name (tfjs), per-output names, or Keras's `{class_name, config}` for a configured loss. */
  loss: string | string[] | Record<string, unknown>;
  metrics?: string[] | Record<string, string> | null;
  optimizer_config: { class_name: string; config: Record<string, unknown> };
  weighted_metrics?: unknown;
  loss_weights?: unknown;
  sample_weight_mode?: unknown;
}

/** model.json as written by tfjs-layers, tfjs-converter and tensorflowjs_converter. */
export interface ModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  modelTopology: unknown;
  weightsManifest?: WeightGroup[];
  trainingConfig?: TrainingConfigJson;
  signature?: unknown;
  userDefinedMetadata?: Record<string, unknown>;
  modelInitializer?: unknown;
}

/** tfjs-core's io.ModelArtifacts: model.json's fields with the weights in memory. */
export interface ModelArtifacts {
  modelTopology?: unknown;
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  trainingConfig?: TrainingConfigJson;
  weightSpecs?: WeightSpec[];
  weightData?: ArrayBuffer | ArrayBuffer[];
  signature?: unknown;
  userDefinedMetadata?: Record<string, unknown>;
  modelInitializer?: unknown;
}

/** tfjs-core's io.SaveResult. */
export interface SaveResult {
  modelArtifactsInfo: {
    dateSaved: Date;
    modelTopologyType: 'JSON';
    modelTopologyBytes?: number;
    weightSpecsBytes?: number;
    weightDataBytes?: number;
  };
  responses?: unknown[];
  errors?: unknown[];
}

/** tfjs-core's io.IOHandler: anything with load() and/or save(). */
export interface IOHandler {
  load?(): Promise<ModelArtifacts>;
  save?(artifacts: ModelArtifacts): Promise<SaveResult>;
}

// ---- Keras topology (snake_case, as on disk) ----------------------------------------------------

/** `{class_name, config}`: a serialized Keras object (layer, initializer, regularizer, ...). */
export interface KerasObjectJson {
  class_name: string;
  config: Record<string, unknown>;
  /** Keras 3. */
  module?: string | null;
  registered_name?: string | null;
  build_config?: unknown;
  compile_config?: unknown;
}

/** Keras 2 / tfjs inbound node: `[layerName, nodeIndex, tensorIndex, kwargs]` per input. */
export type KerasTensorRefJson = [string, number, number, Record<string, unknown>?];

/** Keras 3 inbound node: call arguments holding `__keras_tensor__` references. */
export interface Keras3NodeJson {
  args: unknown[];
  kwargs?: Record<string, unknown>;
}

/** A layer inside a functional model's config. */
export interface KerasLayerJson extends KerasObjectJson {
  name?: string;
  inbound_nodes?: (KerasTensorRefJson[] | Keras3NodeJson)[];
}

/** modelTopology of a LayersModel: the model object, bare or wrapped with version fields (Keras 2). */
export interface LayersModelTopologyJson extends Partial<KerasObjectJson> {
  keras_version?: string;
  backend?: string;
  model_config?: KerasObjectJson;
  training_config?: unknown;
}

// ---- GraphModel topology (a frozen TensorFlow GraphDef in protobuf JSON) ------------------------

export interface TensorShapeJson {
  dim?: { size?: string | number; name?: string }[];
  unknownRank?: boolean;
}

export interface TensorJson {
  dtype?: string;
  tensorShape?: TensorShapeJson;
  tensorContent?: string;
  floatVal?: (number | string)[];
  doubleVal?: (number | string)[];
  intVal?: (number | string)[];
  int64Val?: (number | string)[];
  boolVal?: boolean[];
  halfVal?: (number | string)[];
  stringVal?: string[];
}

export interface AttrValueJson {
  s?: string;
  i?: string | number;
  f?: number | string;
  b?: boolean;
  type?: string;
  shape?: TensorShapeJson;
  tensor?: TensorJson;
  list?: { s?: string[]; i?: (string | number)[]; f?: (number | string)[]; b?: boolean[]; type?: string[]; shape?: TensorShapeJson[] };
  func?: unknown;
}

export interface NodeDefJson {
  name: string;
  op: string;
  input?: string[];
  device?: string;
  attr?: Record<string, AttrValueJson>;
}

export interface GraphDefJson {
  node?: NodeDefJson[];
  library?: unknown;
  versions?: unknown;
}

export interface SignatureTensorJson {
  name: string;
  dtype?: string;
  tensorShape?: TensorShapeJson;
}

export interface SignatureJson {
  inputs?: Record<string, SignatureTensorJson>;
  outputs?: Record<string, SignatureTensorJson>;
}
