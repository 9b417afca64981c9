import { beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useCpuBackend } from '../test_util.js';
import { describeElementwiseMerge } from './parity_testkit.js';
import { subtract } from './subtract.js';

beforeAll(useCpuBackend);

// tfjs-layers has no Subtract: the oracle is tf.sub on the inputs (Keras's definition).
describeElementwiseMerge({ className: 'Subtract', kiln: subtract, formula: ([a, b]) => tf.sub(a!, b!), arity: 2 });
