/**
 * TerminateOnNaN (Keras semantics): stop fit as soon as a batch's loss is NaN or infinite,
 * printing one line ("Batch 3: Invalid loss, terminating training"). The epoch in progress ends
 * (its onEpochEnd runs) and no further epoch starts.
 */
import { Callback, type Logs } from './callback.js';

export class TerminateOnNaN extends Callback {
  override onBatchEnd(batch: number, logs: Logs): void {
    const loss = logs.loss;
    if (loss !== undefined && !Number.isFinite(loss)) {
      console.error(`Batch ${batch}: Invalid loss, terminating training`);
      this.model!.stopTraining = true;
    }
  }
}
