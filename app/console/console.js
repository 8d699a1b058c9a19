// The operator console's page script: framework-free, no build step, served as is from /console.
// Every data call carries the API key the operator typed (kept in this tab's sessionStorage).
import { drawOcrBoxes, drawSegments, drawWaveform, fitWidth } from './draw.js';

const KEY_ITEM = 'clawstack.apiKey';
const $ = (id) => document.getElementById(id);

class Unauthorized extends Error {}

/** fetch with the key; JSON answers are parsed, `{error}` answers thrown as errors. */
async function api(path, init = {}) {
  const key = sessionStorage.getItem(KEY_ITEM);
  if (!key) throw new Unauthorized('no API key');
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${key}`);
  const res = await fetch(path, { ...init, headers });
  const body = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (res.status === 401) throw new Unauthorized(body.error ?? 'unauthorized');
  if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('data-')) node.setAttribute(k, String(v));
    else node[k] = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

const yesNo = (ok) => el('span', { class: ok ? 'ok' : 'bad' }, ok ? 'ready' : 'not ready');
const time = (iso) => new Date(iso).toISOString().slice(11, 23);

function showKeyForm(message) {
  $('console').hidden = true;
  $('key-form').hidden = false;
  $('forget-key').hidden = true;
  $('key-error').textContent = message ?? '';
  $('service-state').textContent = 'not connected';
  $('service-state').className = 'pill';
}

/** Runs a data call; a 401 sends the operator back to the key form. */
async function guarded(work, errorTarget) {
  try {
    if (errorTarget) errorTarget.textContent = '';
    return await work();
  } catch (err) {
    if (err instanceof Unauthorized) showKeyForm(`The server refused the key: ${err.message}`);
    else if (errorTarget) errorTarget.textContent = err.message;
    else console.error(err);
  }
}

function renderStatus(s) {
  const state = $('service-state');
  state.textContent = s.service.ready ? 'ready' : `not ready: ${s.service.reason || 'draining'}`;
  state.className = `pill ${s.service.ready ? 'ok' : 'bad'}`;
  $('dependencies').tBodies[0].replaceChildren(
    ...s.dependencies.map((d) =>
      el(
        'tr',
        { 'data-dependency': d.name, 'data-ready': d.ready },
        el('td', {}, d.name),
        el('td', {}, yesNo(d.ready)),
        el('td', {}, `${d.latencyMs} ms`),
        el('td', {}, d.error ?? ''),
      ),
    ),
  );
  $('models').tBodies[0].replaceChildren(
    ...s.models.map((m) =>
      el(
        'tr',
        { 'data-model': m.name, 'data-ready': m.ready },
        el('td', {}, m.name),
        el('td', {}, m.version),
        el('td', {}, m.precision ?? ''),
        el('td', {}, m.task),
        el('td', {}, yesNo(m.ready)),
        el('td', {}, m.error ?? ''),
      ),
    ),
  );
  $('queue').replaceChildren(
    ...Object.entries(s.queue ?? {}).flatMap(([priority, n]) => [
      el('dt', {}, priority),
      el('dd', { 'data-priority': priority }, n),
    ]),
  );
  $('status-updated').textContent = `Last update ${new Date().toLocaleTimeString()}.`;
}

function renderJobs({ jobs }) {
  $('jobs').tBodies[0].replaceChildren(
    ...jobs.map((j) =>
      el(
        'tr',
        { 'data-job': j.id, 'data-status': j.status },
        el('td', { title: j.id }, j.id.slice(0, 8)),
        el('td', {}, j.task),
        el('td', {}, j.priority),
        el('td', {}, j.status, j.error ? ` (${j.error})` : ''),
        el(
          'td',
          {},
          el(
            'ol',
            { class: 'events' },
            ...j.events.map((e) =>
              el(
                'li',
                { 'data-status': e.status },
                `${e.status} ${time(e.at)}`,
                e.detail ? ` ${e.detail}` : '',
              ),
            ),
          ),
        ),
      ),
    ),
  );
}

const refreshStatus = () => guarded(async () => renderStatus(await api('/console/api/status')));
const refreshJobs = () => guarded(async () => renderJobs(await api('/console/api/jobs?limit=20')));

async function connect() {
  const s = await guarded(() => api('/console/api/status'), $('key-error'));
  if (!s) return;
  $('key-form').hidden = true;
  $('console').hidden = false;
  $('forget-key').hidden = false;
  renderStatus(s);
  await refreshJobs();
}

// ---------------------------------------------------------------------------------------------------------
// Try it

async function classifyText() {
  const r = await api('/v1/text/classify', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text: $('text-input').value }),
  });
  $('text-result').replaceChildren(
    el('strong', { 'data-label': r.label }, r.label),
    ...Object.entries(r.scores).map(([label, p]) =>
      el(
        'div',
        { 'data-score': label },
        `${label} ${p.toFixed(4)} `,
        el('span', { class: 'bar', style: `width:${Math.round(p * 200)}px` }),
      ),
    ),
  );
}

async function queueTextJob() {
  const job = await api('/v1/jobs', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      task: 'text.classify',
      input: { text: $('text-input').value },
      priority: $('text-priority').value,
    }),
  });
  $('text-result').replaceChildren(el('span', { 'data-job': job.id }, `queued job ${job.id}`));
  await refreshJobs();
  // Poll the list until the job has finished, so its transitions show up.
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 250));
    const { jobs } = await api('/console/api/jobs?limit=20');
    renderJobs({ jobs });
    const mine = jobs.find((j) => j.id === job.id);
    if (!mine || ['succeeded', 'failed', 'cancelled'].includes(mine.status)) break;
  }
}

async function detectSpeech(file) {
  const bytes = await file.arrayBuffer();
  const r = await api('/v1/speech/detect', {
    method: 'POST',
    headers: { 'content-type': 'audio/wav' },
    body: bytes,
  });
  const canvas = $('waveform');
  // decodeAudioData keeps the file's rate with an OfflineAudioContext of the same rate.
  const audio = await new OfflineAudioContext(1, 1, r.sampleRate).decodeAudioData(bytes.slice(0));
  drawWaveform(canvas, audio.getChannelData(0));
  canvas.dataset.segments = String(drawSegments(canvas, r.segments, r.durationMs));
  $('audio-result').replaceChildren(
    ...r.segments.map((s) =>
      el(
        'li',
        { class: 'vad-segment', 'data-start-ms': s.startMs, 'data-end-ms': s.endMs },
        `speech ${s.startMs}–${s.endMs} ms (p ${s.probability})`,
      ),
    ),
  );
  canvas.dataset.durationMs = String(r.durationMs);
}

async function recognizeImage(file) {
  const r = await api('/v1/image/ocr', {
    method: 'POST',
    headers: { 'content-type': file.type || 'image/png' },
    body: file,
  });
  const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  const canvas = $('ocr-canvas');
  const scale = fitWidth(canvas, bitmap.width, bitmap.height, 800);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  canvas.dataset.boxes = String(drawOcrBoxes(canvas, r.lines, scale));
  canvas.dataset.scale = String(scale);
  $('image-result').replaceChildren(
    ...r.lines.map((l) =>
      el('li', { class: 'ocr-line', 'data-box': JSON.stringify(l.box) }, `${l.text} (${l.confidence})`),
    ),
  );
}

function wire() {
  $('key-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY_ITEM, $('key').value.trim());
    $('key').value = '';
    void connect();
  });
  $('forget-key').addEventListener('click', () => {
    sessionStorage.removeItem(KEY_ITEM);
    showKeyForm();
  });
  $('refresh-jobs').addEventListener('click', () => void refreshJobs());
  const err = $('try-error');
  $('text-run').addEventListener('click', () => void guarded(classifyText, err));
  $('text-job').addEventListener('click', () => void guarded(queueTextJob, err));
  $('audio-input').addEventListener('change', (ev) => {
    const file = ev.target.files[0];
    if (file) void guarded(() => detectSpeech(file), err);
  });
  $('image-input').addEventListener('change', (ev) => {
    const file = ev.target.files[0];
    if (file) void guarded(() => recognizeImage(file), err);
  });
  setInterval(() => {
    if (!$('console').hidden) void refreshStatus();
  }, 5000);
  if (sessionStorage.getItem(KEY_ITEM)) void connect();
  else showKeyForm();
}

wire();
