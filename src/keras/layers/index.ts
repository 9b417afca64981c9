/** Layer classes and their factory functions in tfjs spelling: `layers.dense({units: 8})`. */
export { InputLayer, type InputLayerArgs, type InputLayerConfig } from '../engine/input.js';
export { Activation, activation, type ActivationArgs, type ActivationConfig } from './activation.js';
export { Add, add } from './add.js';
export { Average, average } from './average.js';
export { AveragePooling2D, averagePooling2d } from './average_pooling2d.js';
export { BatchNormalization, batchNormalization, type BatchNormalizationArgs, type BatchNormalizationConfig } from './batch_normalization.js';
export { Concatenate, concatenate, type ConcatenateArgs, type ConcatenateConfig } from './concatenate.js';
export { Conv2D, conv2d, type Conv2DArgs, type Conv2DConfig } from './conv2d.js';
export { Dense, dense, type DenseArgs, type DenseConfig } from './dense.js';
export { DepthwiseConv2D, depthwiseConv2d, type DepthwiseConv2DArgs, type DepthwiseConv2DConfig } from './depthwise_conv2d.js';
export { Dot, dot, type DotArgs, type DotConfig } from './dot.js';
export { Dropout, dropout, type DropoutArgs, type DropoutConfig } from './dropout.js';
export { Flatten, flatten, type FlattenArgs } from './flatten.js';
export { GlobalAveragePooling2D, globalAveragePooling2d, type GlobalAveragePooling2DArgs, type GlobalAveragePooling2DConfig } from './global_average_pooling2d.js';
export { Maximum, maximum } from './maximum.js';
export { MaxPooling2D, maxPooling2d } from './max_pooling2d.js';
export { Minimum, minimum } from './minimum.js';
export { Multiply, multiply } from './multiply.js';
export { Pooling2D, type Pooling2DArgs, type Pooling2DConfig } from './pooling2d.js';
export { ReLU, reLU, type ReLUArgs, type ReLUConfig } from './relu.js';
export { Reshape, reshape, type ReshapeArgs, type ReshapeConfig } from './reshape.js';
export { Subtract, subtract } from './subtract.js';
export { UpSampling2D, upSampling2d, type UpSampling2DArgs, type UpSampling2DConfig } from './up_sampling2d.js';
export { ZeroPadding2D, zeroPadding2d, type ZeroPadding2DArgs, type ZeroPadding2DConfig } from './zero_padding2d.js';

import { InputLayer, type InputLayerArgs } from '../engine/input.js';
/** `layers.inputLayer({inputShape: [784]})`, for Sequential models. */
export function inputLayer(args: InputLayerArgs): InputLayer {
  return new InputLayer(args);
}
