import { beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { useCpuBackend } from '../test_util.js';
import { describeElementwiseMerge } from './parity_testkit.js';
import { multiply } from './multiply.js';

beforeAll(useCpuBackend);

describeElementwiseMerge({ className: 'Multiply', kiln: multiply, tfl: (a) => tfl.layers.multiply(a), formula: (xs) => xs.reduce((p, x) => tf.mul(p, x)) });
