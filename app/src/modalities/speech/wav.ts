/**
 * A WAV (RIFF/WAVE) parser: PCM 8-bit unsigned, 16/24/32-bit signed integer and 32/64-bit IEEE float,
 * plain `fmt ` chunks and WAVE_FORMAT_EXTENSIBLE, any number of channels (averaged to mono).
 *
 * Written here rather than taken from npm: the format is small and fully specified, the npm decoders
 * (wav-decoder, node-wav, wavefile) are either unmaintained or much larger than what we need, and a
 * hand parser lets every malformed input end in a BadRequestError that names the problem.
 */
import { BadRequestError } from '../../errors.ts';

export const WAVE_FORMAT_PCM = 0x0001;
export const WAVE_FORMAT_IEEE_FLOAT = 0x0003;
export const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/** Refuse absurd headers before allocating anything. */
const MAX_CHANNELS = 16;
const MIN_RATE = 1000;
const MAX_RATE = 384_000;

export interface WavInfo {
  /** WAVE_FORMAT_PCM or WAVE_FORMAT_IEEE_FLOAT (an EXTENSIBLE header resolved to its sub-format). */
  format: number;
  extensible: boolean;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  /** Sample frames (one sample per channel each). */
  frames: number;
}

export interface DecodedWav extends WavInfo {
  /** Mono samples in [-1, 1]: the mean of all channels. */
  samples: Float32Array;
}

function fail(message: string): never {
  throw new BadRequestError(`invalid WAV: ${message}`);
}

/** Parses a WAV file and returns its audio as mono float32 at its own sample rate. */
export function decodeWav(buf: Buffer | Uint8Array): DecodedWav {
  const bytes = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (bytes.length < 12) fail(`${bytes.length} bytes is too short for a RIFF header`);
  const riff = bytes.toString('latin1', 0, 4);
  if (riff === 'RF64' || riff === 'RIFX') fail(`${riff} files are not supported (only little-endian RIFF)`);
  if (riff !== 'RIFF') fail('missing RIFF signature');
  if (bytes.toString('latin1', 8, 12) !== 'WAVE') fail('RIFF file is not of type WAVE');

  let fmt: (Omit<WavInfo, 'frames'> & { blockAlign: number }) | undefined;
  let data: { offset: number; length: number } | undefined;
  let pos = 12;
  while (pos + 8 <= bytes.length) {
    const id = bytes.toString('latin1', pos, pos + 4);
    const size = bytes.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ') {
      if (body + size > bytes.length) fail('fmt chunk is truncated');
      fmt = parseFmt(bytes.subarray(body, body + size));
    } else if (id === 'data') {
      if (!fmt) fail('data chunk comes before the fmt chunk');
      // A data chunk longer than the file is an error (truncated upload), except for the streaming
      // placeholder size 0xFFFFFFFF that piping writers (ffmpeg, sox to stdout) leave: then read to the end.
      const available = bytes.length - body;
      if (size > available) {
        if (size === 0xffffffff) data = { offset: body, length: available - (available % fmt.blockAlign) };
        else fail(`data chunk declares ${size} bytes but only ${available} are present (truncated file)`);
      } else {
        data = { offset: body, length: size };
      }
      break;
    }
    // Chunks are word-aligned: an odd-sized chunk is followed by a pad byte.
    pos = body + size + (size & 1);
  }
  if (!fmt) fail('no fmt chunk');
  if (!data) fail('no data chunk');
  if (data.length % fmt.blockAlign !== 0) {
    fail(
      `data chunk of ${data.length} bytes is not a whole number of ${fmt.blockAlign}-byte frames (truncated file)`,
    );
  }
  const frames = data.length / fmt.blockAlign;
  if (frames === 0) fail('data chunk holds no audio samples');
  const samples = toMono(bytes, data.offset, frames, fmt);
  const { blockAlign: _blockAlign, ...info } = fmt;
  return { ...info, frames, samples };
}

function parseFmt(chunk: Buffer): Omit<WavInfo, 'frames'> & { blockAlign: number } {
  if (chunk.length < 16) fail(`fmt chunk of ${chunk.length} bytes is too short`);
  let format = chunk.readUInt16LE(0);
  const channels = chunk.readUInt16LE(2);
  const sampleRate = chunk.readUInt32LE(4);
  const blockAlign = chunk.readUInt16LE(12);
  let bitsPerSample = chunk.readUInt16LE(14);
  let extensible = false;
  if (format === WAVE_FORMAT_EXTENSIBLE) {
    extensible = true;
    if (chunk.length < 40) fail('WAVE_FORMAT_EXTENSIBLE fmt chunk is shorter than 40 bytes');
    const validBits = chunk.readUInt16LE(18);
    // SubFormat GUID: the first two bytes are the format code, the rest is the fixed KSDATAFORMAT suffix.
    format = chunk.readUInt16LE(24);
    const suffix = chunk.subarray(26, 40).toString('hex');
    if (suffix !== '000000001000800000aa00389b71')
      fail('WAVE_FORMAT_EXTENSIBLE with an unknown SubFormat GUID');
    if (validBits !== 0 && validBits > bitsPerSample)
      fail(`valid bits ${validBits} exceed container bits ${bitsPerSample}`);
  }
  if (channels < 1 || channels > MAX_CHANNELS) fail(`${channels} channels (1 to ${MAX_CHANNELS} supported)`);
  if (sampleRate < MIN_RATE || sampleRate > MAX_RATE) {
    fail(`sample rate ${sampleRate} Hz is outside ${MIN_RATE}-${MAX_RATE} Hz`);
  }
  if (format === WAVE_FORMAT_PCM) {
    if (![8, 16, 24, 32].includes(bitsPerSample))
      fail(`${bitsPerSample}-bit PCM is not supported (8, 16, 24, 32)`);
  } else if (format === WAVE_FORMAT_IEEE_FLOAT) {
    if (bitsPerSample !== 32 && bitsPerSample !== 64)
      fail(`${bitsPerSample}-bit float is not supported (32, 64)`);
  } else {
    const names: Record<number, string> = {
      2: 'MS ADPCM',
      6: 'A-law',
      7: 'mu-law',
      0x11: 'IMA ADPCM',
      0x55: 'MP3',
    };
    fail(
      `audio format ${names[format] ?? `0x${format.toString(16)}`} is not supported (PCM or IEEE float only)`,
    );
  }
  const bytesPerSample = bitsPerSample / 8;
  if (blockAlign !== channels * bytesPerSample) {
    fail(`block align ${blockAlign} does not match ${channels} channel(s) of ${bitsPerSample}-bit samples`);
  }
  bitsPerSample = bytesPerSample * 8;
  return { format, extensible, channels, sampleRate, bitsPerSample, blockAlign };
}

function toMono(
  bytes: Buffer,
  offset: number,
  frames: number,
  fmt: { format: number; channels: number; bitsPerSample: number; blockAlign: number },
): Float32Array {
  const { channels, bitsPerSample, blockAlign } = fmt;
  const read = sampleReader(fmt.format, bitsPerSample);
  const step = bitsPerSample / 8;
  const out = new Float32Array(frames);
  const scale = 1 / channels;
  for (let f = 0; f < frames; f++) {
    let acc = 0;
    const base = offset + f * blockAlign;
    for (let c = 0; c < channels; c++) acc += read(bytes, base + c * step);
    out[f] = acc * scale;
  }
  return out;
}

function sampleReader(format: number, bits: number): (b: Buffer, at: number) => number {
  if (format === WAVE_FORMAT_IEEE_FLOAT) {
    return bits === 32 ? (b, at) => clampFloat(b.readFloatLE(at)) : (b, at) => clampFloat(b.readDoubleLE(at));
  }
  switch (bits) {
    case 8:
      return (b, at) => ((b[at] as number) - 128) / 128;
    case 16:
      return (b, at) => b.readInt16LE(at) / 32768;
    case 24:
      return (b, at) => b.readIntLE(at, 3) / 8388608;
    default:
      return (b, at) => b.readInt32LE(at) / 2147483648;
  }
}

/** Float WAVs may legally exceed ±1; NaN/Infinity would poison the model, so they are zeroed/clamped. */
function clampFloat(v: number): number {
  if (Number.isNaN(v)) return 0;
  return v > 1 ? 1 : v < -1 ? -1 : v;
}
