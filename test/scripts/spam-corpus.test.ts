/** Short messages from the corpus's subject lines (scripts/lib/spam-corpus.ts). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { shortMessagesOf, subjectAsShortMessage, type SpamMessage } from '../../scripts/lib/spam-corpus.ts';

const mail = (key: string, y: 0 | 1, subject: string): SpamMessage => ({
  key,
  group: y ? 'spam-1' : 'easy-ham-1',
  label: y ? 'spam' : 'ham',
  y,
  text: `From: a@example.com\nSubject: ${subject}\n\nbody ${key}\n`,
});

describe('subjectAsShortMessage', () => {
  test('drops reply/forward prefixes and list tags from the front, however repeated', () => {
    assert.equal(
      subjectAsShortMessage('Re: [ILUG] Re: Fwd: RE:  mirroring on a  running system'),
      'mirroring on a running system',
    );
    assert.equal(subjectAsShortMessage('[SAtalk] Re[2]: spam host?'), 'spam host?');
    assert.equal(subjectAsShortMessage('AW: Termin'), 'Termin');
  });

  test('leaves words and brackets inside the text alone', () => {
    assert.equal(
      subjectAsShortMessage('Save 50% [today only] Re: nothing'),
      'Save 50% [today only] Re: nothing',
    );
    assert.equal(subjectAsShortMessage('Reply needed'), 'Reply needed');
  });
});

describe('shortMessagesOf', () => {
  const split = {
    train: [
      mail('t1', 0, 'Re: build is green again'),
      mail('t2', 1, 'Cheap meds online now'),
      mail('t3', 0, 'thread across the split'),
      mail('t4', 0, 'same words both labels'),
    ],
    heldOut: [
      mail('h1', 0, '[list] lunch plans for friday'),
      mail('h2', 0, 'Re: Re: lunch plans for Friday'),
      mail('h3', 0, 'RE: thread across the split'),
      mail('h4', 1, 'same words both labels'),
      mail('h5', 1, 'Hi'),
    ],
  };
  const shorts = shortMessagesOf(split);

  test('one message per distinct case-folded text, with the keys that carry it', () => {
    const lunch = shorts.heldOut.find((m) => m.text.toLowerCase() === 'lunch plans for friday');
    assert.deepEqual(lunch?.keys, ['h1', 'h2']);
    assert.equal(lunch?.label, 'ham');
  });

  test('a text seen on the training side is never held out', () => {
    assert.ok(shorts.train.some((m) => m.text === 'thread across the split'));
    assert.ok(!shorts.heldOut.some((m) => m.text.toLowerCase() === 'thread across the split'));
    assert.equal(shorts.info.spanning, 1);
  });

  test('texts with both labels and texts under two words are dropped', () => {
    const all = [...shorts.train, ...shorts.heldOut].map((m) => m.text);
    assert.ok(!all.includes('same words both labels'));
    assert.ok(!all.includes('Hi'));
    assert.deepEqual([shorts.info.conflicting, shorts.info.tooShort], [1, 1]);
    assert.deepEqual(all.sort(), [
      'Cheap meds online now',
      'build is green again',
      'lunch plans for friday',
      'thread across the split',
    ]);
  });
});
