import { beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { useCpuBackend } from '../test_util.js';
import { describeElementwiseMerge } from './parity_testkit.js';
import { average } from './average.js';

beforeAll(useCpuBackend);

describeElementwiseMerge({ className: 'Average', kiln: average, tfl: (a) => tfl.layers.average(a), formula: (xs) => tf.div(tf.addN(xs), xs.length) });
