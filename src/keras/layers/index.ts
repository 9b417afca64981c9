/** Layer classes and their factory functions in tfjs spelling: `layers.dense({units: 8})`. */
export { InputLayer, type InputLayerArgs, type InputLayerConfig } from '../engine/input.js';
export { Activation, activation, type ActivationArgs, type ActivationConfig } from './activation.js';
export { Add, add } from './add.js';
export { AdditiveAttention, additiveAttention, type AdditiveAttentionArgs, type AdditiveAttentionConfig } from './additive_attention.js';
export { Attention, attention, type AttentionArgs, type AttentionCallArgs, type AttentionConfig, type AttentionScoreMode } from './attention.js';
export { Average, average } from './average.js';
export { AveragePooling1D, averagePooling1d } from './average_pooling1d.js';
export { AveragePooling2D, averagePooling2d } from './average_pooling2d.js';
export { BatchNormalization, batchNormalization, type BatchNormalizationArgs, type BatchNormalizationConfig } from './batch_normalization.js';
export { Bidirectional, bidirectional, type BidirectionalArgs, type BidirectionalConfig, type BidirectionalMergeMode } from './bidirectional.js';
export { Concatenate, concatenate, type ConcatenateArgs, type ConcatenateConfig } from './concatenate.js';
export { Conv1D, conv1d, type Conv1DArgs, type Conv1DConfig } from './conv1d.js';
export { Conv2D, conv2d, type Conv2DArgs, type Conv2DConfig } from './conv2d.js';
export { Conv2DTranspose, conv2dTranspose, type Conv2DTransposeArgs, type Conv2DTransposeConfig } from './conv2d_transpose.js';
export { Cropping1D, cropping1D, type Cropping1DArgs, type Cropping1DConfig } from './cropping1d.js';
export { Cropping2D, cropping2D, type Cropping2DArgs, type Cropping2DConfig } from './cropping2d.js';
export { Dense, dense, type DenseArgs, type DenseConfig } from './dense.js';
export { DepthwiseConv2D, depthwiseConv2d, type DepthwiseConv2DArgs, type DepthwiseConv2DConfig } from './depthwise_conv2d.js';
export { Dot, dot, type DotArgs, type DotConfig } from './dot.js';
export { Dropout, dropout, type DropoutArgs, type DropoutConfig } from './dropout.js';
export { ELU, elu, type ELUArgs, type ELUConfig } from './elu.js';
export { Embedding, embedding, type EmbeddingArgs, type EmbeddingConfig } from './embedding.js';
export { Flatten, flatten, type FlattenArgs } from './flatten.js';
export { GlobalAveragePooling1D, globalAveragePooling1d } from './global_average_pooling1d.js';
export { GlobalAveragePooling2D, globalAveragePooling2d, type GlobalAveragePooling2DArgs, type GlobalAveragePooling2DConfig } from './global_average_pooling2d.js';
export { GlobalMaxPooling1D, globalMaxPooling1d } from './global_max_pooling1d.js';
export { GlobalMaxPooling2D, globalMaxPooling2d } from './global_max_pooling2d.js';
export { type GlobalPoolingArgs, type GlobalPoolingConfig } from './global_pooling.js';
export { GroupNormalization, groupNormalization, type GroupNormalizationArgs, type GroupNormalizationConfig } from './group_normalization.js';
export { GRU, GRUCell, gru, gruCell, type GRUArgs, type GRUCellArgs, type GRUCellConfig, type GRUConfig } from './gru.js';
export { LayerNormalization, layerNormalization, type LayerNormalizationArgs, type LayerNormalizationConfig } from './layer_normalization.js';
export { LeakyReLU, leakyReLU, type LeakyReLUArgs, type LeakyReLUConfig } from './leaky_relu.js';
export { LSTM, LSTMCell, lstm, lstmCell, type LSTMArgs, type LSTMCellArgs, type LSTMCellConfig, type LSTMConfig } from './lstm.js';
export { Masking, masking, type MaskingArgs, type MaskingConfig } from './masking.js';
export { Maximum, maximum } from './maximum.js';
export { MaxPooling1D, maxPooling1d } from './max_pooling1d.js';
export { MaxPooling2D, maxPooling2d } from './max_pooling2d.js';
export { Minimum, minimum } from './minimum.js';
export { MultiHeadAttention, multiHeadAttention, type MultiHeadAttentionArgs, type MultiHeadAttentionCallArgs, type MultiHeadAttentionConfig } from './multi_head_attention.js';
export { Multiply, multiply } from './multiply.js';
export { Permute, permute, type PermuteArgs, type PermuteConfig } from './permute.js';
export { type Pooling1DArgs, type Pooling1DConfig } from './pooling1d.js';
export { Pooling2D, type Pooling2DArgs, type Pooling2DConfig } from './pooling2d.js';
export { PReLU, prelu, type PReLUArgs, type PReLUConfig } from './prelu.js';
export { RNNCell, recurrenceLoop, runRecurrence, type CellArgs, type RecurrenceOptions, type RecurrenceResult, type StepFunction } from './recurrent.js';
export { ReLU, reLU, type ReLUArgs, type ReLUConfig } from './relu.js';
export { RepeatVector, repeatVector, type RepeatVectorArgs, type RepeatVectorConfig } from './repeat_vector.js';
export { Rescaling, rescaling, type RescalingArgs, type RescalingConfig } from './rescaling.js';
export { Reshape, reshape, type ReshapeArgs, type ReshapeConfig } from './reshape.js';
export { Resizing, resizing, type ResizingArgs, type ResizingConfig } from './resizing.js';
export { RNN, StackedRNNCells, rnn, stackedRNNCells, type RNNArgs, type RNNBaseArgs, type RNNConfig, type StackedRNNCellsArgs } from './rnn.js';
export { SeparableConv2D, separableConv2d, type SeparableConv2DArgs, type SeparableConv2DConfig } from './separable_conv2d.js';
export { SimpleRNN, SimpleRNNCell, simpleRNN, simpleRNNCell, type SimpleRNNArgs, type SimpleRNNCellArgs, type SimpleRNNConfig } from './simple_rnn.js';
export { Softmax, softmax, type SoftmaxArgs, type SoftmaxConfig } from './softmax.js';
export { Subtract, subtract } from './subtract.js';
export { ThresholdedReLU, thresholdedReLU, type ThresholdedReLUArgs, type ThresholdedReLUConfig } from './thresholded_relu.js';
export { TimeDistributed, timeDistributed, type TimeDistributedArgs, type TimeDistributedConfig } from './time_distributed.js';
export { UpSampling1D, upSampling1d, type UpSampling1DArgs, type UpSampling1DConfig } from './up_sampling1d.js';
export { UpSampling2D, upSampling2d, type UpSampling2DArgs, type UpSampling2DConfig } from './up_sampling2d.js';
export { ZeroPadding2D, zeroPadding2d, type ZeroPadding2DArgs, type ZeroPadding2DConfig } from './zero_padding2d.js';

import { InputLayer, type InputLayerArgs } from '../engine/input.js';
/** `layers.inputLayer({inputShape: [784]})`, for Sequential models. */
export function inputLayer(args: InputLayerArgs): InputLayer {
  return new InputLayer(args);
}

// Kiln's own layers: AutoGraph leaves their `call` as written (engine/layer.ts).
import { markKilnLayers } from '../engine/layer.js';
import * as own from './index.js';
markKilnLayers(Object.values(own));
