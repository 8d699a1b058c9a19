/**
 * INT8 dynamic quantization of ONNX models (ONNX Runtime's quantize_dynamic scheme).
 *
 *   import { quantizeModel, compareModels } from './quantize/index.ts';
 *   const { bytes, report } = quantizeModel(fp32Bytes, { perChannel: true });
 *   const check = await compareModels(fp32Bytes, bytes);
 */
export { quantizeModel, QUANTIZABLE_OPS, MIN_OPSET } from './graph.ts';
export type {
  QuantizeOptions,
  QuantizeReport,
  QuantizeResult,
  QuantizedWeight,
  QuantizableOp,
} from './graph.ts';
export {
  compareModels,
  compareOutputs,
  makeSampleInputs,
  parseSamples,
  inputSpecs,
  seededRandom,
} from './verify.ts';
export type { VerifyOptions, VerifyResult, OutputError, Feeds, InputSpec } from './verify.ts';
export { QuantizeError } from './onnx.ts';
export * as qmath from './math.ts';
