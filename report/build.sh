#!/usr/bin/env bash
# Puts together what the interactive HTML report bundles into each file it writes: ECharts, installed from the npm
# registry at the version package-lock.json pins, its licence, and the page template. Copies them to report/dist
# (packed into the command line's jar by Maven) and into the Python client's package (patchbay/report_assets).
# Run by ./patchbay before it builds; needs Node.js's npm the first time.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
echarts="$here/node_modules/echarts"
if [ ! -f "$echarts/dist/echarts.min.js" ] || [ "$here/package-lock.json" -nt "$echarts/dist/echarts.min.js" ]; then
  if ! command -v npm >/dev/null; then
    echo "report/build.sh: npm is needed once to install ECharts for the HTML report (Debian: apt-get install npm)" >&2
    exit 2
  fi
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
for out in "$here/dist" "$root/client-python/src/patchbay/report_assets"; do
  mkdir -p "$out"
  cp "$here/template.html" "$out/template.html"
  cp "$echarts/dist/echarts.min.js" "$out/echarts.min.js"
  cp "$echarts/LICENSE" "$out/ECHARTS-LICENSE"
done
