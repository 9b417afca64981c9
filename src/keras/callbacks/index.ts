/**
 * Callbacks for `fit`: the protocol (Callback, CallbackList, plain-object hooks), History,
 * EarlyStopping, ReduceLROnPlateau, ModelCheckpoint, TerminateOnNaN, BackupAndRestore and the
 * progress bar (ProgbarLogger).
 */
export { Callback, CallbackList, CustomCallback, type CallbackHooks, type CallbackLike, type Logs, type TrainingParams } from './callback.js';
export { History } from './history.js';
export { EarlyStopping, type EarlyStoppingArgs } from './early_stopping.js';
export { ReduceLROnPlateau, type ReduceLROnPlateauArgs } from './reduce_lr_on_plateau.js';
export { ModelCheckpoint, readCheckpoint, writeCheckpoint, formatCheckpointPath, type ModelCheckpointArgs, type CheckpointFile } from './model_checkpoint.js';
export { TerminateOnNaN } from './terminate_on_nan.js';
export { BackupAndRestore, type BackupAndRestoreArgs } from './backup_and_restore.js';
export { readTrainingState, writeTrainingState, crc32 } from './checkpoint_file.js';
export { getTrainingState, setTrainingState, getOptimizerState, setOptimizerState, type TrainingState, type StateTensor } from '../engine/training_state.js';
export { ProgbarLogger, type ProgbarLoggerArgs, type ProgressStream } from '../progress.js';
export { getLearningRate, setLearningRate } from '../engine/training.js';

import { EarlyStopping, type EarlyStoppingArgs } from './early_stopping.js';
import { ModelCheckpoint, type ModelCheckpointArgs } from './model_checkpoint.js';
import { ReduceLROnPlateau, type ReduceLROnPlateauArgs } from './reduce_lr_on_plateau.js';
import { TerminateOnNaN } from './terminate_on_nan.js';
import { BackupAndRestore, type BackupAndRestoreArgs } from './backup_and_restore.js';

/** tfjs spelling: kiln.callbacks.earlyStopping({monitor, patience}). */
export const earlyStopping = (args?: EarlyStoppingArgs): EarlyStopping => new EarlyStopping(args);
export const reduceLROnPlateau = (args?: ReduceLROnPlateauArgs): ReduceLROnPlateau => new ReduceLROnPlateau(args);
export const modelCheckpoint = (args: ModelCheckpointArgs): ModelCheckpoint => new ModelCheckpoint(args);
export const terminateOnNaN = (): TerminateOnNaN => new TerminateOnNaN();
export const backupAndRestore = (args: BackupAndRestoreArgs): BackupAndRestore => new BackupAndRestore(args);
