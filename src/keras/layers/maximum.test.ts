import { beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { useCpuBackend } from '../test_util.js';
import { describeElementwiseMerge } from './parity_testkit.js';
import { maximum } from './maximum.js';

beforeAll(useCpuBackend);

describeElementwiseMerge({ className: 'Maximum', kiln: maximum, tfl: (a) => tfl.layers.maximum(a), formula: (xs) => xs.reduce((p, x) => tf.maximum(p, x)) });
