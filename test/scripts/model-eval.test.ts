/** scripts/lib/model-eval.ts: the OCR metric's edit distance (character accuracy = 1 − distance / length). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { editDistance } from '../../scripts/lib/model-eval.ts';

/** Levenshtein distance by plain recursion over every alignment: slow, obviously right, for short strings. */
function reference(a: string, b: string): number {
  if (!a.length) return b.length;
  if (!b.length) return a.length;
  return Math.min(
    reference(a.slice(1), b) + 1,
    reference(a, b.slice(1)) + 1,
    reference(a.slice(1), b.slice(1)) + (a[0] === b[0] ? 0 : 1),
  );
}

describe('editDistance (Levenshtein)', () => {
  test('known values: one insertion, deletion or substitution costs 1 each', () => {
    const cases: [string, string, number][] = [
      ['', '', 0],
      ['', 'abc', 3],
      ['abc', '', 3],
      ['same text', 'same text', 0],
      ['kitten', 'sitting', 3],
      ['flaw', 'lawn', 2],
      ['INVOICE 42', 'INVOICE 42!', 1], // insertion
      ['INVOICE 42', 'INVOCE 42', 1], // deletion
      ['INVOICE 42', 'INV0ICE 42', 1], // substitution (O → 0), the typical OCR error
      ['line one\nline two', 'line one line two', 1], // a line break read as a space
      ['ab', 'ba', 2], // a transposition is two edits, not one (not Damerau)
    ];
    for (const [a, b, d] of cases) assert.equal(editDistance(a, b), d, `"${a}" → "${b}"`);
  });

  test('agrees with the recursive definition, is symmetric and bounded by the lengths', () => {
    const words = ['', 'a', 'ab', 'ba', 'abc', 'acb', 'xabcx', 'aaaa', 'abab', 'OCR 1', '0CR l'];
    for (const a of words) {
      for (const b of words) {
        const d = editDistance(a, b);
        assert.equal(d, reference(a, b), `"${a}" vs "${b}"`);
        assert.equal(d, editDistance(b, a));
        assert.ok(d >= Math.abs(a.length - b.length) && d <= Math.max(a.length, b.length));
      }
    }
  });
});
