import { extractMessage, hashTextFeaturesInt32 } from './app/src/modalities/text/features.ts';
import { loadMessages, loadModel } from './scripts/bench/inputs.ts';
const texts = loadMessages(); const spec = loadModel().spec;
console.log('messages', texts.length, 'mean chars', Math.round(texts.reduce((a, t) => a + t.length, 0) / texts.length));
function bench(name: string, f: (t: string) => unknown) {
  for (let r = 0; r < 3; r++) for (const t of texts) f(t);
  const t0 = performance.now(); let n = 0;
  for (let r = 0; r < 10; r++) for (const t of texts) { f(t); n++; }
  console.log(name, (((performance.now() - t0) / n) * 1000).toFixed(1), 'µs/message');
}
bench('extractMessage', (t) => extractMessage(t, spec.parseEmail));
bench('hashTextFeaturesInt32', (t) => hashTextFeaturesInt32(t, spec));
const TOKEN_RE = /[\p{L}\p{N}]+/gu;
bench('extract+lower+matchAll only', (t) => { const b = extractMessage(t, spec.parseEmail).text.toLowerCase(); let k = 0; for (const m of b.matchAll(TOKEN_RE)) k += m[0].length; return k; });
