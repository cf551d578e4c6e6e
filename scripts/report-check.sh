#!/usr/bin/env bash
# Renders memo-infer's HTML run report with headless Chromium (Debian's `chromium`): full-page
# screenshots at a desktop (1280 px) and a phone (390 px) width and a print to PDF on A4, for a
# person to look at; and checks what a machine can: at both widths the page does not scroll
# sideways, and the PDF has A4 pages. Skips, saying so, where Chromium is not installed.
#
# Headless Chromium will not make a window narrower than 500 px, so the phone width is an
# iframe of 390 px inside a 500 px window (the screenshot shows it on a gray margin).
#
# Usage: scripts/report-check.sh REPORT.html [OUT_DIR]   (default OUT_DIR: beside the report)
# Writes OUT_DIR/NAME-desktop.png, NAME-phone.png, NAME.pdf. Exit 1 if a check fails.
set -euo pipefail
report=${1:?usage: scripts/report-check.sh REPORT.html [OUT_DIR]}
[ -f "$report" ] || { echo "report-check: $report: no such file" >&2; exit 1; }
out=${2:-$(dirname "$report")}
mkdir -p "$out"
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
    echo "report-check: SKIPPED: no chromium on PATH (apt-get install chromium)"
    exit 0
fi
name=$(basename "$report" .html)
work=$(mktemp -d)
profile=$(mktemp -d)
trap 'rm -rf "$work" "$profile"' EXIT
run() { timeout 180 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
            --disable-extensions --user-data-dir="$profile" "$@" 2>/dev/null; }

# A copy of the report that tells its parent (or, alone, its own title) how wide and tall it is.
probe='<script>var m="W"+document.documentElement.scrollWidth+"/"+window.innerWidth+"/"+document.documentElement.scrollHeight;
document.title=m; if (parent !== window) parent.postMessage(m, "*");</script></body>'
sed "s|</body>|${probe//$'\n'/ }|" "$report" >"$work/page.html"
measure() {  # $1: DOM dump -> "scrollWidth innerWidth scrollHeight"
    grep -o '<title>W[0-9]*/[0-9]*/[0-9]*' <<<"$1" | sed 's|<title>W||; s|/| |g'
}
fail=0
check_width() {  # label scrollWidth innerWidth
    if [ "$2" -le "$3" ]; then
        echo "report-check: $1: no horizontal scrolling (page $2 px in a $3 px viewport)"
    else
        echo "report-check: FAIL: $1: the page is $2 px wide in a $3 px viewport" >&2
        fail=1
    fi
}

# Desktop.
read -r sw iw sh < <(measure "$(run --window-size=1280,900 --dump-dom "file://$work/page.html")")
check_width "desktop 1280 px" "$sw" "$iw"
report_abs="$(cd "$(dirname "$report")" && pwd)/$(basename "$report")"
run --window-size="1280,$((sh < 16000 ? sh : 16000))" --screenshot="$out/$name-desktop.png" "file://$report_abs" >/dev/null
echo "report-check: $out/$name-desktop.png (1280 x $sh px)"

# Phone: the page in a 390 px iframe.
frame() {  # $1: iframe height
    cat >"$work/phone.html" <<HTML
<!DOCTYPE html><html><head><title>phone</title></head>
<body style="margin:0;background:#9a9a9a"><iframe src="page.html" style="width:390px;height:$1px;border:0;background:#fff;display:block"></iframe>
<script>addEventListener("message", function (e) { document.title = e.data; });</script></body></html>
HTML
}
frame 800
read -r sw iw sh < <(measure "$(run --window-size=500,800 --virtual-time-budget=5000 --dump-dom "file://$work/phone.html")")
check_width "phone 390 px" "$sw" "$iw"
frame "$sh"
run --window-size="500,$((sh < 30000 ? sh : 30000))" --screenshot="$out/$name-phone.png" "file://$work/phone.html" >/dev/null
echo "report-check: $out/$name-phone.png (390 x $sh px, on a gray margin)"

# Print.
run --no-pdf-header-footer --print-to-pdf="$out/$name.pdf" "file://$report_abs" >/dev/null
pages=$(grep -ac "/Type /Page$" "$out/$name.pdf" || true)
a4=$(grep -ac "/MediaBox \[0 0 594.9[0-9]* 841.9[0-9]*\]" "$out/$name.pdf" || true)
if [ "$pages" -gt 0 ] && [ "$a4" -eq "$pages" ]; then
    echo "report-check: $out/$name.pdf ($pages A4 pages)"
else
    echo "report-check: FAIL: $out/$name.pdf has $pages pages, $a4 of them A4" >&2
    fail=1
fi
exit $fail
