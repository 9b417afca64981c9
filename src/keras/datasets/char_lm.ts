/**
 * The character-level LSTM language model of the fortunes example (examples/char_lstm.js), its
 * test and the LSTM benchmark: Embedding -> LSTM (returnSequences) -> Dense softmax over the
 * vocabulary, predicting the next character at every position. Token ids come in as f32 (as
 * tfjs-layers feeds them), `[batch, seqLength]`.
 */
import { sequential, type Sequential } from '../engine/sequential.js';
import { dense } from '../layers/dense.js';
import { embedding } from '../layers/embedding.js';
import { lstm } from '../layers/lstm.js';

export interface CharLstmOptions {
  vocabSize: number;
  seqLength: number;
  /** Embedding width (default 32). */
  embedDim?: number;
  /** LSTM units (default 128). */
  units?: number;
  /** LSTM gate activation (default tfjs's hardSigmoid). */
  recurrentActivation?: 'hardSigmoid' | 'sigmoid';
}

export function charLstmModel(o: CharLstmOptions): Sequential {
  return sequential({
    name: 'char_lstm',
    layers: [
      embedding({ inputDim: o.vocabSize, outputDim: o.embedDim ?? 32, inputShape: [o.seqLength] }),
      lstm({ units: o.units ?? 128, returnSequences: true, recurrentActivation: o.recurrentActivation ?? 'hardSigmoid' }),
      dense({ units: o.vocabSize, activation: 'softmax' }),
    ],
  });
}
