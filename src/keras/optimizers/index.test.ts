import { beforeAll, describe, expect, it } from 'vitest';
import { useCpu } from '../../frontend/test_util.js';
import {
  Adagrad, Adam, AdamW, adam, adamw, exponentialDecay, fromConfig, getOptimizer, optimizerNames, RMSprop, rmsprop, SGD, sgd,
  toTfjsOptimizerConfig,
} from './index.js';
import { expectSameTrajectory, problem, runKiln, runTfjs, tf } from './test_util.js';

beforeAll(() => useCpu());

describe('getOptimizer', () => {
  it('resolves string names with Keras defaults', () => {
    const cases = [['sgd', SGD, 0.01], ['adam', Adam, 0.001], ['adamw', AdamW, 0.001], ['rmsprop', RMSprop, 0.001], ['adagrad', Adagrad, 0.001]] as const;
    for (const [name, cls, lr] of cases) {
      const opt = getOptimizer(name);
      expect(opt, name).toBeInstanceOf(cls);
      expect(opt.learningRate).toBe(lr);
    }
    expect(getOptimizer('Adam')).toBeInstanceOf(Adam);
    expect(optimizerNames).toEqual(['sgd', 'adam', 'adamw', 'rmsprop', 'adagrad']);
    const a = adam();
    expect(getOptimizer(a)).toBe(a);
  });

  it('lists the valid names for an unknown one', () => {
    expect(() => getOptimizer('adamax')).toThrow("unknown optimizer 'adamax'; valid names: 'sgd', 'adam', 'adamw', 'rmsprop', 'adagrad'");
    expect(() => fromConfig({ class_name: 'Lion', config: {} })).toThrow(/unknown optimizer class 'Lion'/);
  });

  it('round-trips configs, schedules included, and the rebuilt optimizer behaves the same', () => {
    const opts = [
      sgd({ learningRate: 0.1, momentum: 0.9, nesterov: true, clipnorm: 1 }),
      adam({ learningRate: exponentialDecay({ initialLearningRate: 0.01, decaySteps: 2, decayRate: 0.9 }), beta1: 0.8, amsgrad: true, globalClipnorm: 2 }),
      new AdamW({ weightDecay: 0.01, epsilonMode: 'tfjs' }),
      rmsprop({ rho: 0.8, momentum: 0.5, centered: true, clipvalue: 0.5, name: 'my_rms' }),
      new Adagrad({ initialAccumulatorValue: 0.2, weightDecay: 0.1 }),
    ];
    const p = problem(3);
    for (const opt of opts) {
      const ser = JSON.parse(JSON.stringify(opt.serialize()));
      const back = fromConfig(ser);
      expect(back.constructor).toBe(opt.constructor);
      expect(back.getConfig()).toEqual(opt.getConfig());
      expectSameTrajectory(runKiln(back, p, false), runKiln(opt, p, false), 1e-7, opt.className);
    }
    expect(opts[1]!.getConfig()).toMatchObject({ beta_1: 0.8, beta_2: 0.999, amsgrad: true, global_clipnorm: 2, clipnorm: null });
    expect(opts[3]!.stateNames(['w'])).toEqual(['my_rms/iterations', 'w/rms', 'w/momentum', 'w/mg']);
  });

  it('reads tfjs-layers optimizer configs (camelCase keys, tfjs class names)', () => {
    const a = getOptimizer({ class_name: 'Adam', config: { learningRate: 0.01, beta1: 0.8, beta2: 0.99, epsilon: 1e-6 } }) as Adam;
    expect([a.learningRate, a.beta1, a.beta2, a.epsilon]).toEqual([0.01, 0.8, 0.99, 1e-6]);
    const r = getOptimizer({ class_name: 'RMSProp', config: { learningRate: 0.01, decay: 0.8, momentum: 0.1, epsilon: 1e-6, centered: false } }) as RMSprop;
    expect(r).toBeInstanceOf(RMSprop);
    expect(r.rho).toBe(0.8);
    const m = getOptimizer({ class_name: 'Momentum', config: { learningRate: 0.1, momentum: 0.9, useNesterov: true } }) as SGD;
    expect([m.momentum, m.nesterov]).toEqual([0.9, true]);
  });
});

describe('toTfjsOptimizerConfig', () => {
  it('exports configs that tfjs-core deserializes into optimizers that behave the same', () => {
    const p = problem(4);
    const classMap = tf.serialization.SerializationMap.getMap().classNameMap;
    for (const opt of [
      sgd({ learningRate: 0.1 }), sgd({ learningRate: 0.1, momentum: 0.9, nesterov: true }),
      adam({ learningRate: 0.01, beta1: 0.8, epsilonMode: 'tfjs' }), rmsprop({ learningRate: 0.01, momentum: 0.5 }),
      new Adagrad({ learningRate: 0.1, initialAccumulatorValue: 0.3 }),
    ]) {
      const ser = toTfjsOptimizerConfig(opt)!;
      expect(ser, opt.className).not.toBeNull();
      const [cls, fromCfg] = classMap[ser.class_name]!;
      const tfOpt = fromCfg(cls, ser.config as tf.serialization.ConfigDict) as tf.Optimizer;
      expectSameTrajectory(runKiln(opt, p, false), runTfjs(tfOpt, p), 1e-5, ser.class_name);
      // And back: Kiln reads the tfjs form.
      expect(getOptimizer(ser).constructor).toBe(opt.constructor);
    }
  });

  it('returns null where tfjs has no equivalent', () => {
    expect(toTfjsOptimizerConfig(adamw())).toBeNull();
    expect(toTfjsOptimizerConfig(adam({ amsgrad: true }))).toBeNull();
    expect(toTfjsOptimizerConfig(sgd({ clipnorm: 1 }))).toBeNull();
    expect(toTfjsOptimizerConfig(rmsprop({ centered: true }))).toBeNull();
    expect(toTfjsOptimizerConfig(sgd({ learningRate: exponentialDecay({ initialLearningRate: 0.1, decaySteps: 2, decayRate: 0.5 }) }))).toBeNull();
  });
});
