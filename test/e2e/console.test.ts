/**
 * The operator console (/console) driven in a real headless Chromium (Debian's `chromium` through
 * playwright-core) against the real service with every model loaded: key handling, readiness, queue
 * depth, recent jobs with their transitions, and what the try-it panel draws (checked in the DOM and in
 * screenshots). Skipped, with the reason, only when chromium is not installed.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import sharp from 'sharp';
import { startTestApp, type TestApp } from '../harness/app.ts';
import { startTestServices, type TestServices } from '../harness/services.ts';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const skip = existsSync(CHROMIUM)
  ? false
  : `chromium is not installed at ${CHROMIUM} (apt-get install -y chromium; .ci/run installs it)`;
const fixturePath = (p: string) => new URL(`../fixtures/${p}`, import.meta.url).pathname;

interface Status {
  dependencies: { name: string; ready: boolean }[];
  models: { name: string; ready: boolean }[];
  queue: Record<string, number>;
}

/** The canvas as drawn on screen: RGB pixels of its content box (border excluded). */
async function canvasPixels(canvas: Locator) {
  const border = await canvas.evaluate((c) => c.clientLeft);
  const png = await canvas.screenshot();
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const width = info.width - 2 * border;
  const height = info.height - 2 * border;
  const at = (x: number, y: number) => {
    const i = ((Math.round(y) + border) * info.width + Math.round(x) + border) * 3;
    return { r: data[i]!, g: data[i + 1]!, b: data[i + 2]! };
  };
  return { width, height, at };
}

const isMagenta = (p: { r: number; g: number; b: number }) => p.r > 200 && p.b > 200 && p.g < 90;

describe('operator console in headless Chromium', { skip }, () => {
  let services: TestServices;
  let app: TestApp;
  let context: BrowserContext;
  let page: Page;
  let profile: string;

  before(async () => {
    services = await startTestServices();
    app = await startTestApp(services, { MODELS: '', INFERENCE_THREADS: '2' });
    profile = mkdtempSync(join(tmpdir(), 'clawstack-chromium-'));
    // A persistent context is how playwright takes a --user-data-dir: a fresh one per run.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1200, height: 900 },
      deviceScaleFactor: 1,
    });
    page = await context.newPage();
  });
  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await app?.close();
    await services?.stop();
  });

  test('a wrong key is refused and the page keeps asking; no data is shown', async () => {
    await page.goto(`${app.url}/console/`);
    await page.fill('#key', 'cs_not_a_key');
    await page.click('#key-form button[type=submit]');
    await page.locator('#key-error', { hasText: 'refused' }).waitFor();
    assert.equal(await page.isHidden('#console'), true);
    assert.equal(await page.locator('#dependencies tbody tr').count(), 0);
  });

  test('with the key: readiness of each dependency and model, queue depth per priority', async () => {
    await page.fill('#key', app.key);
    await page.click('#key-form button[type=submit]');
    await page.waitForSelector('#dependencies tbody tr');
    const status = (await (await app.call('/console/api/status')).json()) as Status;
    const deps = await page.$$eval('#dependencies tbody tr', (rows) =>
      rows.map((r) => [r.getAttribute('data-dependency'), r.getAttribute('data-ready')]),
    );
    assert.deepEqual(deps, [
      ['postgres', 'true'],
      ['redis', 'true'],
      ['queue', 'true'],
      ['inference', 'true'],
    ]);
    const models = await page.$$eval('#models tbody tr', (rows) =>
      rows.map((r) => [r.getAttribute('data-model'), r.getAttribute('data-ready')]),
    );
    assert.deepEqual(
      models,
      status.models.map((m) => [m.name, 'true']),
    );
    assert.deepEqual(models.map((m) => m[0]).sort(), ['ocr-det', 'ocr-rec', 'silero-vad', 'text-spam']);
    for (const priority of ['high', 'normal', 'low'])
      assert.equal(
        await page.textContent(`#queue dd[data-priority=${priority}]`),
        String(status.queue[priority]),
      );
    assert.equal(await page.textContent('#service-state'), 'ready');
  });

  test('text: classify shows the label and scores the API returns; a queued job shows its transitions', async () => {
    const text = 'WIN a FREE cruise! Click now';
    await page.fill('#text-input', text);
    await page.click('#text-run');
    await page.waitForSelector('#text-result [data-label]');
    const api = (await (await app.call('/v1/text/classify', { method: 'POST', json: { text } })).json()) as {
      label: string;
      scores: Record<string, number>;
    };
    assert.equal(await page.getAttribute('#text-result [data-label]', 'data-label'), api.label);
    assert.match(
      (await page.textContent('#text-result [data-score=spam]'))!,
      new RegExp(api.scores.spam!.toFixed(4)),
    );

    await page.selectOption('#text-priority', 'high');
    await page.click('#text-job');
    const id = await (await page.waitForSelector('#text-result [data-job]')).getAttribute('data-job');
    const row = page.locator(`#jobs tr[data-job="${id}"][data-status=succeeded]`);
    await row.waitFor({ timeout: 15_000 });
    assert.deepEqual(
      await row.locator('li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-status'))),
      ['queued', 'running', 'succeeded'],
    );
    assert.equal(await row.locator('td').nth(2).textContent(), 'high');
  });

  test('audio: the waveform is drawn and each VAD segment is shaded over it', async () => {
    const file = 'speech/speech-16k-mono-s16.wav';
    await page.setInputFiles('#audio-input', fixturePath(file));
    await page.waitForSelector('#waveform[data-segments]');
    const api = (await (
      await app.call('/v1/speech/detect', {
        method: 'POST',
        body: readFileSync(fixturePath(file)),
        headers: { 'content-type': 'audio/wav' },
      })
    ).json()) as { segments: { startMs: number; endMs: number }[]; durationMs: number };
    assert.equal(api.segments.length, 2);
    assert.equal(await page.getAttribute('#waveform', 'data-segments'), '2');
    const listed = await page.$$eval('.vad-segment', (lis) =>
      lis.map((li) => [Number(li.getAttribute('data-start-ms')), Number(li.getAttribute('data-end-ms'))]),
    );
    assert.deepEqual(
      listed,
      api.segments.map((s) => [s.startMs, s.endMs]),
    );
    const px = await canvasPixels(page.locator('#waveform'));
    const x = (ms: number) => (ms / api.durationMs) * px.width;
    const shaded = (p: { r: number; g: number; b: number }) => p.r > 230 && p.b < 200;
    for (const s of api.segments) {
      // top row, mid-segment: the shade over white background; the waveform sits around the middle
      assert.ok(shaded(px.at(x((s.startMs + s.endMs) / 2), 2)), `segment ${s.startMs}-${s.endMs} shaded`);
    }
    assert.ok(!shaded(px.at(x(300), 2)), 'no shade before speech starts (1000 ms)');
    assert.ok(!shaded(px.at(x(3000), 2)), 'no shade in the pause (2155–3655 ms)');
    // the waveform itself: within speech some column reaches far from the centre line; in silence none does
    const span = (ms: number) => {
      let rows = 0;
      for (let y = 0; y < px.height; y++) if (px.at(x(ms), y).r < 180) rows++; // blue waveform (r 59, 128 shaded); background r 255
      return rows;
    };
    const widest = (fromMs: number, toMs: number) => {
      let most = 0;
      for (let ms = fromMs; ms < toMs; ms += api.durationMs / px.width) most = Math.max(most, span(ms));
      return most;
    };
    const [first] = api.segments;
    assert.ok(
      widest(first!.startMs, first!.endMs) > px.height / 3,
      `speech spans ${widest(first!.startMs, first!.endMs)} rows`,
    );
    assert.ok(widest(0, 900) < 4, `silence spans ${widest(0, 900)} rows`);
  });

  test('image: one box per OCR line, drawn over the image where the API placed it', async () => {
    const file = 'image/ocr-sans.png';
    await page.setInputFiles('#image-input', fixturePath(file));
    await page.waitForSelector('#ocr-canvas[data-boxes]', { timeout: 30_000 });
    const api = (await (
      await app.call('/v1/image/ocr', {
        method: 'POST',
        body: readFileSync(fixturePath(file)),
        headers: { 'content-type': 'image/png' },
      })
    ).json()) as { lines: { text: string; box: number[][] }[] };
    assert.equal(api.lines.length, 3);
    assert.equal(await page.getAttribute('#ocr-canvas', 'data-boxes'), String(api.lines.length));
    assert.equal(await page.locator('.ocr-line').count(), api.lines.length);
    const scale = Number(await page.getAttribute('#ocr-canvas', 'data-scale'));
    const px = await canvasPixels(page.locator('#ocr-canvas'));
    const nearMagenta = (x: number, y: number) => {
      for (let dy = -2; dy <= 2; dy++)
        for (let dx = -2; dx <= 2; dx++) if (isMagenta(px.at(x + dx, y + dy))) return true;
      return false;
    };
    for (const { box, text } of api.lines) {
      for (let k = 0; k < 4; k++) {
        const [ax, ay] = box[k]!;
        const [bx, by] = box[(k + 1) % 4]!;
        // the middle of each edge of the box, scaled to the canvas
        assert.ok(
          nearMagenta(((ax! + bx!) / 2) * scale, ((ay! + by!) / 2) * scale),
          `edge ${k} of "${text}"`,
        );
      }
      const cx = (box.reduce((s, p) => s + p[0]!, 0) / 4) * scale;
      assert.ok(
        !isMagenta(px.at(cx, ((box[0]![1]! + box[3]![1]!) / 2) * scale)),
        `inside "${text}" is not outlined`,
      );
    }
    // the image itself is drawn: dark text pixels exist inside the first box
    const [tl, , br] = api.lines[0]!.box;
    let dark = 0;
    for (let y = tl![1]! * scale + 4; y < br![1]! * scale - 4; y++)
      for (let x = tl![0]! * scale + 4; x < br![0]! * scale - 4; x++) {
        const p = px.at(x, y);
        if (p.r + p.g + p.b < 200) dark++;
      }
    assert.ok(dark > 50, `${dark} dark pixels inside the first box`);
    if (process.env.CONSOLE_SCREENSHOT)
      await page.screenshot({ path: process.env.CONSOLE_SCREENSHOT, fullPage: true });
  });
});
