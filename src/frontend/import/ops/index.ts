/**
 * The merged op table the GraphModel walk consults, and the ops refused on purpose with the
 * reason: their output shapes depend on data (NonMaxSuppression, Where, TopK with dynamic k), or
 * they are TensorFlow control flow / tensor lists that a static, unrolled graph cannot express.
 */
import { activationOps } from './activations.js';
import { arithmeticOps } from './arithmetic.js';
import { convolutionOps } from './convolution.js';
import { graphOps } from './graph.js';
import { imageOps } from './image.js';
import { matrixOps } from './matrices.js';
import { reductionOps } from './reduction.js';
import { transformationOps } from './transformation.js';
import type { OpTable } from './types.js';

export type { OpContext, OpTable, OpTranslator } from './types.js';

export const OP_TABLE: OpTable = {
  ...graphOps, ...arithmeticOps, ...activationOps, ...convolutionOps, ...matrixOps,
  ...reductionOps, ...transformationOps, ...imageOps,
};

const DYNAMIC = 'its output shape depends on the data, and Kiln compiles static shapes';
const CONTROL = 'it is TensorFlow control flow (a while loop or conditional), which Kiln does not import';
const LISTS = 'tensor arrays/lists are dynamic containers used by loops';

/** Ops Kiln refuses, each with why (shown in the error). */
export const REFUSED_OPS: Readonly<Record<string, string>> = {
  NonMaxSuppressionV2: DYNAMIC, NonMaxSuppressionV3: DYNAMIC, NonMaxSuppressionV4: DYNAMIC, NonMaxSuppressionV5: DYNAMIC,
  Where: DYNAMIC, TopKV2: DYNAMIC, Unique: DYNAMIC, Bincount: DYNAMIC, DenseBincount: DYNAMIC, SparseToDense: DYNAMIC,
  Enter: CONTROL, Exit: CONTROL, Switch: CONTROL, Merge: CONTROL, NextIteration: CONTROL, LoopCond: CONTROL,
  StatelessWhile: CONTROL, While: CONTROL, StatelessIf: CONTROL, If: CONTROL, NoOp: CONTROL,
  TensorArrayV3: LISTS, TensorArrayReadV3: LISTS, TensorArrayWriteV3: LISTS, TensorArrayGatherV3: LISTS,
  TensorArrayScatterV3: LISTS, TensorArrayConcatV3: LISTS, TensorArraySplitV3: LISTS, TensorArraySizeV3: LISTS, TensorArrayCloseV3: LISTS,
  TensorListReserve: LISTS, TensorListFromTensor: LISTS, TensorListStack: LISTS, TensorListSetItem: LISTS,
  TensorListGetItem: LISTS, TensorListLength: LISTS, TensorListConcatV2: LISTS, TensorListSplit: LISTS,
  TensorListElementShape: LISTS, TensorListGather: LISTS, TensorListScatterV2: LISTS, TensorListResize: LISTS,
  TensorListPushBack: LISTS, TensorListPopBack: LISTS,
};
