/** Generated parts of a Markdown document: the text between two HTML-comment markers. */
import { readFileSync, writeFileSync } from 'node:fs';

/** Replaces the text between `<!-- name:begin -->` and `<!-- name:end -->` (both kept). */
export function replaceSection(doc: string, name: string, content: string): string {
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  const a = doc.indexOf(begin);
  const b = doc.indexOf(end);
  if (a < 0 || b < a) throw new Error(`no ${begin} … ${end} section`);
  return `${doc.slice(0, a + begin.length)}\n${content}\n${doc.slice(b)}`;
}

export function writeSection(file: string, name: string, content: string) {
  writeFileSync(file, replaceSection(readFileSync(file, 'utf8'), name, content));
}
