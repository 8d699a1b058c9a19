/**
 * INT8 quantizer CLI.
 *
 *   npm run quantize -- IN.onnx OUT.onnx [--per-channel] [--ops MatMul,Gather]
 *                       [--gather-type uint8|int8] [--inputs samples.json]
 *                       [--seed N] [--batch N] [--no-verify] [--json]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { compareModels, parseSamples, QuantizeError, quantizeModel } from './quantize/index.ts';
import type { QuantizeReport, VerifyResult } from './quantize/index.ts';

const USAGE = `usage: npm run quantize -- IN.onnx OUT.onnx [options]

  --per-channel            one scale per output column of MatMul weights
                           (and per embedding column of Gather tables, opset >= 13)
  --reduce-range           7-bit MatMul weights [-64, 64] (ORT's reduce_range): avoids int16
                           saturation of ORT's U8S8 kernels on AVX2 CPUs without VNNI
  --ops MatMul,Gather      op types to quantize (default: MatMul,Gather)
  --gather-type uint8|int8 Gather table type (default uint8 asymmetric; int8 = symmetric)
  --inputs samples.json    inputs for the accuracy check instead of seeded random ones
  --seed N                 PRNG seed for random inputs (default 1234)
  --batch N                size for a symbolic batch dimension (default 4)
 --shape NAME=1x3x64x64   shape of a random input (repeatable), for models whose symbolic
                           dims need particular values
  --runs N                 timed runs per model for the latency line (default 20)
  --no-verify              skip the onnxruntime comparison
  --json                   print the report as JSON on stdout
`;

/** TTY-aware stderr progress bar; silent when stderr is not a terminal or the model is small. */
function progressBar(
  label: string,
  minTotal: number,
): { update: (done: number, total: number) => void; end: () => void } {
  const tty = process.stderr.isTTY === true;
  let shown = false;
  let lastPct = -1;
  return {
    update(done, total) {
      if (!tty || total < minTotal) return;
      const pct = Math.floor((100 * done) / Math.max(total, 1));
      if (pct === lastPct) return;
      lastPct = pct;
      shown = true;
      const width = 30;
      const filled = Math.round((width * pct) / 100);
      process.stderr.write(
        `\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(pct).padStart(3)}% ${(done / 1e6).toFixed(1)}M/${(total / 1e6).toFixed(1)}M weights`,
      );
    },
    end() {
      if (shown) process.stderr.write('\n');
    },
  };
}

const kb = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;
const pct = (x: number): string => `${(100 * x).toFixed(3)}%`;

function printReport(inPath: string, outPath: string, r: QuantizeReport, ms: number): void {
  console.log(`quantized ${inPath} -> ${outPath} in ${ms.toFixed(0)} ms (opset ${r.opset})`);
  console.log(
    `  size: ${kb(r.bytesIn)} -> ${kb(r.bytesOut)} (${((100 * r.bytesOut) / r.bytesIn).toFixed(1)}%)`,
  );
  if (r.quantized.length === 0)
    console.log(
      '  nothing was quantized (no MatMul with a constant weight, no Gather with a constant table)',
    );
  else
    console.log(
      `  weights: ${kb(r.weightBytesBefore)} float32 -> ${kb(r.weightBytesAfter)} int8 incl. scales`,
    );
  console.log(`  nodes: ${r.nodesBefore} -> ${r.nodesAfter}; Constant weights lifted: ${r.constantsLifted}`);
  for (const q of r.quantized) {
    const scale = q.perChannel
      ? `scales ${q.scaleMin.toExponential(3)}..${q.scaleMax.toExponential(3)}`
      : `scale ${q.scaleMin.toExponential(3)}`;
    console.log(
      `  ${q.op.padEnd(6)} ${q.node}: ${q.weight} [${q.shape.join('x')}] -> ${q.type}${q.perChannel ? ' per-channel' : ''}, ${scale}`,
    );
  }
  for (const s of r.skipped) console.log(`  skipped ${s.op} ${s.node}: ${s.reason}`);
  for (const n of r.notes) console.log(`  note: ${n}`);
  for (const [op, n] of Object.entries(r.leftFloat)) console.log(`  left in float32: ${n} x ${op}`);
}

function printVerify(v: VerifyResult): void {
  console.log(
    `  accuracy check on ${v.inputs.map((i) => `${i.name} ${i.type}[${i.dims.join('x')}]`).join(', ')}:`,
  );
  for (const o of v.outputs) {
    const top1 = o.top1Agreement === undefined ? '' : `, top-1 agreement ${pct(o.top1Agreement)}`;
    console.log(
      `    ${o.name}: max rel ${pct(o.maxRelError)} (max |d| ${o.maxAbsError.toExponential(3)}), mean rel ${pct(o.meanRelError)} (mean |d| ${o.meanAbsError.toExponential(3)})${top1}`,
    );
  }
  console.log(
    `  latency (1 thread, mean of runs): fp32 ${v.fp32Ms.toFixed(3)} ms, int8 ${v.int8Ms.toFixed(3)} ms`,
  );
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'per-channel': { type: 'boolean', default: false },
      'reduce-range': { type: 'boolean', default: false },
      ops: { type: 'string' },
      'gather-type': { type: 'string', default: 'uint8' },
      inputs: { type: 'string' },
      seed: { type: 'string', default: '1234' },
      batch: { type: 'string', default: '4' },
      runs: { type: 'string', default: '20' },
      shape: { type: 'string', multiple: true },
      'no-verify': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const [inPath, outPath] = positionals;
  if (!inPath || !outPath || positionals.length > 2) {
    console.error(USAGE);
    return 2;
  }
  const gatherType = values['gather-type'];
  if (gatherType !== 'uint8' && gatherType !== 'int8') {
    console.error(`--gather-type must be uint8 or int8, got '${gatherType}'`);
    return 2;
  }
  const input = new Uint8Array(readFileSync(inPath));
  const bar = progressBar('quantizing', 1_000_000);
  const t0 = performance.now();
  let result;
  try {
    result = quantizeModel(input, {
      perChannel: values['per-channel'],
      reduceRange: values['reduce-range'],
      ops: values.ops
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      gatherType,
      onProgress: bar.update,
    });
  } finally {
    bar.end();
  }
  const ms = performance.now() - t0;
  writeFileSync(outPath, result.bytes);
  if (!values.json) printReport(inPath, outPath, result.report, ms);

  let verify: VerifyResult | undefined;
  if (!values['no-verify']) {
    const feeds = values.inputs ? parseSamples(readFileSync(values.inputs, 'utf8'), input) : undefined;
    const shapes: Record<string, number[]> = {};
    for (const spec of values.shape ?? []) {
      const m = /^(.+)=(\d+(?:x\d+)*)$/.exec(spec);
      if (!m) throw new QuantizeError(`--shape expects NAME=1x3x64x64, got '${spec}'`);
      shapes[m[1] as string] = (m[2] as string).split('x').map(Number);
    }
    try {
      verify = await compareModels(input, result.bytes, {
        feeds,
        shapes,
        seed: Number(values.seed),
        batch: Number(values.batch),
        runs: Number(values.runs),
      });
    } catch (err) {
      throw new QuantizeError(
        `${outPath} was written, but the accuracy check failed: ${(err as Error).message.split('\n')[0]}\n` +
          `  (if the model needs particular input sizes, pass --shape NAME=AxBxC or --inputs samples.json; --no-verify skips the check)`,
      );
    }
    if (!values.json) printVerify(verify);
  }
  if (values.json) console.log(JSON.stringify({ report: result.report, quantizeMs: ms, verify }, null, 2));
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof QuantizeError) console.error(`quantize: ${err.message}`);
    else console.error(err);
    process.exit(1);
  },
);
