import { beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { useCpuBackend } from '../test_util.js';
import { describeElementwiseMerge } from './parity_testkit.js';
import { minimum } from './minimum.js';

beforeAll(useCpuBackend);

describeElementwiseMerge({ className: 'Minimum', kiln: minimum, tfl: (a) => tfl.layers.minimum(a), formula: (xs) => xs.reduce((p, x) => tf.minimum(p, x)) });
