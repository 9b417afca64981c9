/**
 * kiln.data: input pipelines (after tf.data / tfjs-data). Sources make Datasets, transforms
 * chain on them, and model.fit / evaluate / predict stream their batches.
 */
export { Dataset, isDataset, type BatchInfo, type Cardinality } from './dataset.js';
export { type Element } from './element.js';
export { fromArrays, fromGenerator, type ArraysSource, type TypedArray } from './arrays.js';
export { type DatasetFitArgs } from './fit.js';
export { npy } from './npy.js';
export { csv, type CsvOptions } from './csv.js';
export { idx, readIdx, decodeIdx, type IdxArray, type IdxOptions } from './idx.js';
export { images, decodeImage, type ImagesOptions, type DecodeImageOptions } from './image.js';
export { type ByteSource } from './bytes.js';
