#!/usr/bin/env bash
# Rebuilds the speech and image test fixtures (test/fixtures/{speech,image}) and test/fixtures/expected.json.
# Needs Debian's espeak-ng, sox and imagemagick (the real /usr/bin/convert) and fonts-dejavu-core:
#   apt-get install -y espeak-ng sox imagemagick fonts-dejavu-core
# Output is deterministic for fixed tool versions (espeak-ng 1.51, SoX 14.4.2, ImageMagick 6.9.11): every sox
# call runs with -D (no automatic dither, so silence stays digital zero) and -R (repeatable noise/synth seed).
set -euo pipefail
cd "$(dirname "$0")/.."
SPEECH=test/fixtures/speech
IMAGE=test/fixtures/image
CONVERT=/usr/bin/convert
# No timestamps or other metadata in the output, so reruns give identical files.
STRIP=(-strip -define png:exclude-chunks=date,time)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$SPEECH" "$IMAGE"
export LC_ALL=C

# ---- speech ----------------------------------------------------------------------------------------
SENT_A="Hello this is a test"
SENT_B="Speech detection works"
# espeak-ng speaks at 22050 Hz mono 16-bit; trim its own leading/trailing silence (-60 dBFS) so the
# speech interval is known exactly, then convert to 16 kHz and pad with digital silence.
espeak-ng -v en-us -s 160 -w "$TMP/a_raw.wav" "$SENT_A"
espeak-ng -v en-us -s 160 -w "$TMP/b_raw.wav" "$SENT_B"
for x in a b; do
  sox -D -R "$TMP/${x}_raw.wav" "$TMP/${x}.wav" silence 1 0.005 0.1% reverse silence 1 0.005 0.1% reverse
done
DUR_A=$(soxi -D "$TMP/a.wav")
DUR_B=$(soxi -D "$TMP/b.wav")

# Two utterances, 16 kHz mono 16-bit: 1 s silence + A + 1.5 s silence + B + 1 s silence.
sox -D -R -n -r 22050 -c 1 -b 16 "$TMP/sil1.wav" trim 0 1
sox -D -R -n -r 22050 -c 1 -b 16 "$TMP/sil15.wav" trim 0 1.5
sox -D -R -n -r 22050 -c 1 -b 16 "$TMP/sil05.wav" trim 0 0.5
sox -D -R "$TMP/sil1.wav" "$TMP/a.wav" "$TMP/sil15.wav" "$TMP/b.wav" "$TMP/sil1.wav" \
  -r 16000 -c 1 -b 16 -e signed-integer "$SPEECH/speech-16k-mono-s16.wav" rate -v
# One utterance with 0.5 s silence either side, in other formats.
sox -D -R "$TMP/sil05.wav" "$TMP/a.wav" "$TMP/sil05.wav" "$TMP/one.wav"
sox -D -R "$TMP/one.wav" -r 44100 -c 2 -b 16 -e signed-integer "$SPEECH/speech-44k1-stereo-s16.wav" rate -v
sox -D -R "$TMP/one.wav" -r 8000 -c 1 -b 8 -e unsigned-integer "$SPEECH/speech-8k-mono-u8.wav" rate -v
sox -D -R "$TMP/one.wav" -r 22050 -c 1 -b 32 -e floating-point "$SPEECH/speech-22k05-mono-f32.wav"
sox -D -R "$TMP/one.wav" -r 24000 -c 1 -b 24 -e signed-integer "$SPEECH/speech-24k-mono-s24.wav" rate -v
# No speech: digital silence, white and pink noise at moderate level (about -20 dBFS RMS).
sox -D -R -n -r 16000 -c 1 -b 16 "$SPEECH/silence-16k.wav" trim 0 2
sox -D -R -n -r 16000 -c 1 -b 16 "$SPEECH/noise-white-16k.wav" synth 2 whitenoise vol 0.17
sox -D -R -n -r 16000 -c 1 -b 16 "$SPEECH/noise-pink-16k.wav" synth 2 pinknoise vol 0.3

# Tiny tones for the WAV parser (50 ms at 8 kHz; left 440 Hz, right 1000 Hz for stereo), amplitude 0.5.
T="$SPEECH/tones"
mkdir -p "$T"
tone() { sox -D -R -n -r 8000 "$@" synth 0.05 sine 440 vol 0.5; }
tone -c 1 -b 8 -e unsigned-integer "$T/tone-u8.wav"
tone -c 1 -b 16 -e signed-integer "$T/tone-s16.wav"
tone -c 1 -b 24 -e signed-integer "$T/tone-s24.wav"
tone -c 1 -b 32 -e signed-integer "$T/tone-s32.wav"
tone -c 1 -b 32 -e floating-point "$T/tone-f32.wav"
tone -c 1 -b 64 -e floating-point "$T/tone-f64.wav"
# wavpcm: plain WAVE_FORMAT_PCM header even for 24-bit (sox writes WAVE_FORMAT_EXTENSIBLE otherwise).
sox -D -R -n -r 8000 -c 1 -b 24 -e signed-integer -t wavpcm "$T/tone-s24-pcmheader.wav" synth 0.05 sine 440 vol 0.5
sox -D -R -n -r 8000 -c 2 -b 16 -e signed-integer "$T/tone-stereo-s16.wav" synth 0.05 sine 440 sine 1000 vol 0.5
# 1 s 1 kHz sine at 44.1 kHz, for the resampler.
sox -D -R -n -r 44100 -c 1 -b 16 -e signed-integer "$T/sine-1k-44k1.wav" synth 1 sine 1000 vol 0.5

# ---- image -----------------------------------------------------------------------------------------
# Three lines per image, drawn at known baselines with -annotate.
L1="The quick brown fox jumps"
L2="over the lazy dog 1234"
L3="Invoice #42 total: 17.50"
$CONVERT -size 640x220 xc:white -font DejaVu-Sans -pointsize 30 -fill black \
  -annotate +24+55 "$L1" -annotate +24+115 "$L2" -annotate +24+175 "$L3" "${STRIP[@]}" "$IMAGE/ocr-sans.png"
M1="Speech and image models"
M2="served from one engine"
M3="Batch size 8, latency 35 ms"
$CONVERT -size 620x230 xc:'#f4f1e8' -font DejaVu-Serif -pointsize 30 -fill '#202040' \
  -annotate +30+60 "$M1" -annotate +30+120 "$M2" -annotate +30+180 "$M3" -quality 90 "${STRIP[@]}" "$IMAGE/ocr-serif.jpg"
N1="HELLO WORLD"
N2="Open the door at 9:30"
$CONVERT -size 520x170 xc:'#1e3a5f' -font DejaVu-Sans-Bold -pointsize 34 -fill white \
  -annotate +28+65 "$N1" -annotate +28+135 "$N2" "${STRIP[@]}" "$IMAGE/ocr-inverted.png"
# Rotated 4 degrees clockwise (exercises the rotated min-area boxes and crops).
R1="Rotated text line one"
R2="and a second line 2024"
$CONVERT -size 560x190 xc:white -font DejaVu-Sans -pointsize 30 -fill black \
  -annotate +30+70 "$R1" -annotate +30+140 "$R2" -background white -rotate 4 +repage "${STRIP[@]}" "$IMAGE/ocr-rotated.png"
# Larger than the detector's 960 px limit (exercises det downscaling and mapping boxes back).
G1="Large print headline"
G2="Second row 987"
$CONVERT -size 1500x380 xc:white -font DejaVu-Sans -pointsize 96 -fill black \
  -annotate +40+140 "$G1" -annotate +40+310 "$G2" "${STRIP[@]}" "$IMAGE/ocr-large.png"

# ---- expected.json ---------------------------------------------------------------------------------
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }
A_ON=1000; A_OFF=$(awk -v d="$DUR_A" 'BEGIN { printf "%.1f", 1000 + d * 1000 }')
B_ON=$(awk -v d="$DUR_A" 'BEGIN { printf "%.1f", 1000 + d * 1000 + 1500 }')
B_OFF=$(awk -v a="$DUR_A" -v b="$DUR_B" 'BEGIN { printf "%.1f", 1000 + a * 1000 + 1500 + b * 1000 }')
ONE_OFF=$(awk -v d="$DUR_A" 'BEGIN { printf "%.1f", 500 + d * 1000 }')
TOTAL2=$(awk -v a="$DUR_A" -v b="$DUR_B" 'BEGIN { printf "%.1f", 3500 + (a + b) * 1000 }')
TOTAL1=$(awk -v a="$DUR_A" 'BEGIN { printf "%.1f", 1000 + a * 1000 }')
one() { printf '    "%s": { "durationMs": %s, "speech": [[500, %s]] }' "$1" "$TOTAL1" "$ONE_OFF"; }
{
  echo '{'
  echo '  "speech": {'
  printf '    "speech-16k-mono-s16.wav": { "durationMs": %s, "speech": [[%s, %s], [%s, %s]] },\n' \
    "$TOTAL2" "$A_ON" "$A_OFF" "$B_ON" "$B_OFF"
  one speech-44k1-stereo-s16.wav; echo ','
  one speech-8k-mono-u8.wav; echo ','
  one speech-22k05-mono-f32.wav; echo ','
  one speech-24k-mono-s24.wav; echo ','
  echo '    "silence-16k.wav": { "durationMs": 2000, "speech": [] },'
  echo '    "noise-white-16k.wav": { "durationMs": 2000, "speech": [] },'
  echo '    "noise-pink-16k.wav": { "durationMs": 2000, "speech": [] }'
  echo '  },'
  echo '  "ocr": {'
  printf '    "ocr-sans.png": ["%s", "%s", "%s"],\n' "$L1" "$L2" "$L3"
  printf '    "ocr-serif.jpg": ["%s", "%s", "%s"],\n' "$M1" "$M2" "$M3"
  printf '    "ocr-inverted.png": ["%s", "%s"],\n' "$N1" "$N2"
  printf '    "ocr-rotated.png": ["%s", "%s"],\n' "$R1" "$R2"
  printf '    "ocr-large.png": ["%s", "%s"]\n' "$G1" "$G2"
  echo '  }'
  echo '}'
} > test/fixtures/expected.json
echo "speech A ${DUR_A}s, B ${DUR_B}s"
