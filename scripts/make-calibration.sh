#!/usr/bin/env bash
# Rebuilds the OCR calibration images (models/calibration/ocr/*.png) that scripts/make-int8.ts runs the FP32
# detector and recognizer on to measure activation ranges for static INT8 quantization. They are kept apart
# from the evaluation fixtures (test/fixtures/image), so the accuracy check does not grade the images the
# ranges were fitted to. Needs Debian's imagemagick and fonts-dejavu-core (ImageMagick 6.9.11):
#   apt-get install -y imagemagick fonts-dejavu-core
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=models/calibration/ocr
CONVERT=/usr/bin/convert
STRIP=(-strip -define png:exclude-chunks=date,time)
mkdir -p "$OUT"
export LC_ALL=C

$CONVERT -size 600x200 xc:white -font DejaVu-Sans -pointsize 28 -fill black \
  -annotate +20+50 "Shipping address: 221B Baker St" -annotate +20+110 "Order 7781 packed on Monday" \
  -annotate +20+170 "Call us at 555-0199 (9am-5pm)" "${STRIP[@]}" "$OUT/calib-sans.png"
$CONVERT -size 640x210 xc:'#fffbe6' -font DejaVu-Serif -pointsize 30 -fill '#3a2a10' \
  -annotate +24+60 "Quarterly report, page 3" -annotate +24+125 "Revenue grew by 12.4%" \
  -annotate +24+185 "Questions? Write to the team" "${STRIP[@]}" "$OUT/calib-serif.png"
$CONVERT -size 540x160 xc:'#4a1020' -font DejaVu-Sans-Bold -pointsize 32 -fill '#ffe9a8' \
  -annotate +26+62 "EXIT ONLY" -annotate +26+130 "Gate B closes at 18:45" "${STRIP[@]}" "$OUT/calib-dark.png"
$CONVERT -size 580x200 xc:white -font DejaVu-Sans-Mono -pointsize 26 -fill '#202020' \
  -annotate +22+60 "ERROR 0x3F at line 88" -annotate +22+130 "retry=3 timeout=250ms" \
  -background white -rotate -3 +repage "${STRIP[@]}" "$OUT/calib-mono-rotated.png"
$CONVERT -size 1200x300 xc:'#eef4ff' -font DejaVu-Serif-Bold -pointsize 80 -fill '#102a60' \
  -annotate +36+120 "Grand Opening" -annotate +36+255 "Saturday 10 AM" "${STRIP[@]}" "$OUT/calib-large.png"
$CONVERT -size 500x140 xc:'#d8d8d8' -font DejaVu-Sans-Oblique -pointsize 24 -fill '#303030' \
  -annotate +18+50 "Keep refrigerated below 4 C" -annotate +18+110 "Best before 2027-03-14" \
  "${STRIP[@]}" "$OUT/calib-grey.png"
ls -l "$OUT"
