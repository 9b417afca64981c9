/**
 * BackupAndRestore (Keras semantics): back up the whole training state to `backupDir` as fit
 * goes, so that a fit interrupted by a crash (the process killed at any moment) continues where
 * the last backup left off when the same fit is run again, with the same callback list, and ends
 * with the same losses and weights, bit for bit, as an uninterrupted run.
 *
 * The backup is one file, `<backupDir>/training_state.kstate` (checkpoint_file.ts), written
 * atomically: a crash leaves the previous backup or the new one. It holds getTrainingState:
 * weights, optimizer slots and step counter, metric totals, learning rate, the fit's epoch and
 * step, the shuffle RNG's state before that epoch's shuffle, and the callbacks' states.
 *
 * Exactness needs seeded randomness in the model: Dropout({seed}) draws its masks from (seed,
 * step) and the step is restored, but an unseeded layer draws a new seed in every process (as in
 * Keras), so a resume warns about such layers. fit's shuffle is always exact (its RNG state is in
 * the checkpoint, whether fit was given a seed or not).
 *
 * When: with saveFreq 'epoch', at the start of every epoch after the first one this fit ran
 * (after every callback's onEpochEnd, so their updates are in it); with saveFreq N, before the
 * batch that follows every N batches (mid-epoch: a resume replays that epoch's shuffle and
 * starts at that batch). At the end of a fit the backup is deleted (deleteCheckpoint, default
 * true) or brought up to date.
 */
import { KilnError } from '../../ir/types.js';
import { getTrainingState, setTrainingState } from '../engine/training_state.js';
import { Callback, refuseUnknown } from './callback.js';
import { readTrainingState, writeTrainingState } from './checkpoint_file.js';
import { nodeHost } from '../../host/node.js';

export interface BackupAndRestoreArgs {
  /** The directory that holds the backup (created when missing). */
  backupDir: string;
  /** 'epoch' (default) or a number of batches between backups. */
  saveFreq?: 'epoch' | number;
  /** Delete the backup when fit ends normally. Default true. */
  deleteCheckpoint?: boolean;
}

const OPTIONS = ['backupDir', 'saveFreq', 'deleteCheckpoint'];

export class BackupAndRestore extends Callback {
  readonly backupDir: string;
  readonly saveFreq: 'epoch' | number;
  readonly deleteCheckpoint: boolean;
  /** Whether the last onTrainBegin found a backup and restored it. */
  restored = false;
  private batchesSinceSave = 0;
  private firstEpoch = -1;

  constructor(args: BackupAndRestoreArgs) {
    super();
    if (args === null || typeof args !== 'object') throw new KilnError(`BackupAndRestore: expects {backupDir, saveFreq?, deleteCheckpoint?}, got ${String(args)}`);
    refuseUnknown('BackupAndRestore', args, OPTIONS);
    if (typeof args.backupDir !== 'string' || args.backupDir === '') throw new KilnError(`BackupAndRestore: backupDir must be a non-empty path, got ${JSON.stringify(args.backupDir)}`);
    const f = args.saveFreq ?? 'epoch';
    if (f !== 'epoch' && !(Number.isInteger(f) && f > 0)) throw new KilnError(`BackupAndRestore: saveFreq must be 'epoch' or a positive integer (batches), got ${JSON.stringify(f)}`);
    this.backupDir = args.backupDir;
    this.saveFreq = f;
    this.deleteCheckpoint = args.deleteCheckpoint ?? true;
  }

  /** The backup file. */
  get file(): string {
    return `${this.backupDir.replace(/\/+$/, '')}/training_state.kstate`;
  }

  override async onTrainBegin(): Promise<void> {
    const { existsSync } = nodeHost('BackupAndRestore').fs;
    this.batchesSinceSave = 0;
    this.firstEpoch = -1;
    this.restored = existsSync(this.file);
    if (!this.restored) return;
    setTrainingState(this.model!, await readTrainingState(this.file));
    // Random layers key their masks by (seed, step); the step is restored, an unseeded layer's
    // seed was drawn afresh in this process (as in Keras), so its masks differ from the lost run's.
    const unseeded = this.model!.layers.filter((l) => /Dropout|Noise/.test(l.constructor.name) && (l as { seed?: number }).seed === undefined);
    if (unseeded.length) {
      console.warn(`BackupAndRestore: resuming with unseeded random layer(s) ${unseeded.map((l) => `'${l.name}'`).join(', ')}: their masks will differ from the interrupted run's; give them a seed for an exact resume`);
    }
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    if (this.firstEpoch < 0) this.firstEpoch = epoch;
    else if (this.saveFreq === 'epoch') await this.save();
  }

  override async onBatchBegin(): Promise<void> {
    if (this.saveFreq !== 'epoch' && this.batchesSinceSave >= this.saveFreq) await this.save();
  }

  override onBatchEnd(): void {
    this.batchesSinceSave++;
  }

  override async onTrainEnd(): Promise<void> {
    if (this.deleteCheckpoint) {
      const { rm } = nodeHost('BackupAndRestore').fsp;
      await rm(this.file, { force: true });
    } else {
      await this.save();
    }
  }

  private async save(): Promise<void> {
    await writeTrainingState(this.file, getTrainingState(this.model!));
    this.batchesSinceSave = 0;
  }
}
