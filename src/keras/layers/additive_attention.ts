/**
 * AdditiveAttention (Bahdanau-style) with Keras 3 semantics: Attention with scores
 * `Σ_dim scale · tanh(query + key)` over [B, Tq, Tv, dim], where `scale` is a learned [dim]
 * weight (glorot-uniform) with `useScale` (default true), else 1. Masks, causal mask, dropout
 * and returned scores as in Attention.
 */
import { ops, type Tensor } from '../backend.js';
import { registerLayer } from '../engine/layer.js';
import type { KerasShape } from '../engine/keras_tensor.js';
import { Attention, type AttentionArgs, type AttentionConfig } from './attention.js';

export type AdditiveAttentionArgs = Omit<AttentionArgs, 'scoreMode'>;

export type AdditiveAttentionConfig = Omit<AttentionConfig, 'scoreMode'>;

export class AdditiveAttention extends Attention {
  static override className = 'AdditiveAttention';

  constructor(args: AdditiveAttentionArgs = {}) {
    super(args, ['useScale', 'dropout', 'seed']);
  }

  protected override defaultUseScale(): boolean {
    return true;
  }

  override build(inputShape: KerasShape | KerasShape[]): void {
    const { q } = this.shapes(inputShape);
    if (this.useScale) this.scale = this.addWeight('scale', [q[q.length - 1] as number], 'glorotUniform');
    this.built = true;
  }

  protected override scores(q: Tensor, k: Tensor): Tensor {
    const t = ops.tanh(ops.add(ops.expandDims(q, -2), ops.expandDims(k, -3))); // [B, Tq, Tv, dim]
    return ops.sum(this.scale ? ops.mul(t, this.scale.read()) : t, -1);
  }

  override getConfig(): AdditiveAttentionConfig {
    const { scoreMode: _unused, ...rest } = super.getConfig();
    return rest;
  }

  static override fromConfig(config: AdditiveAttentionConfig): AdditiveAttention {
    return new AdditiveAttention(config);
  }
}
registerLayer(AdditiveAttention);

export function additiveAttention(args: AdditiveAttentionArgs = {}): AdditiveAttention {
  return new AdditiveAttention(args);
}
