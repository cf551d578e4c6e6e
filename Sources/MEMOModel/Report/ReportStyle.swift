// The style sheet and the one script of the HTML run report, inlined into the page so it opens
// from disk with no network. The layout is one column that narrows to a phone's width without
// horizontal scrolling (charts scale down, wide tables scroll inside their own box) and prints
// on A4 with each figure kept on one page.

enum ReportStyle {
    static let css = """
    :root { --ink: #222; --muted: #666; --line: #ddd; --bad: #b00020; --badbg: #fdecee; --accent: #1f77b4; }
    * { box-sizing: border-box; }
    html { -webkit-text-size-adjust: 100%; }
    body { margin: 0; font-family: "DejaVu Sans", Verdana, Arial, sans-serif; color: var(--ink); background: #fff;
           font-size: 15px; line-height: 1.45; }
    main { max-width: 1100px; margin: 0 auto; padding: 16px 20px 40px; }
    h1 { font-size: 1.6em; margin: 0.4em 0 0.2em; overflow-wrap: anywhere; }
    h2 { font-size: 1.25em; margin: 1.6em 0 0.5em; padding-bottom: 0.2em; border-bottom: 2px solid var(--line); }
    h3 { font-size: 1.05em; margin: 1.2em 0 0.4em; }
    p, li { max-width: 70em; }
    .muted { color: var(--muted); }
    .banner { border: 2px solid var(--bad); background: var(--badbg); color: var(--bad); padding: 10px 14px;
              border-radius: 6px; margin: 12px 0; }
    .banner strong { display: block; font-size: 1.1em; }
    .banner ul { margin: 6px 0 0; padding-left: 1.2em; color: var(--ink); overflow-wrap: anywhere; }
    .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; margin: 10px 0; }
    .card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
    .card .value { font-size: 1.6em; font-weight: bold; }
    .card .label { color: var(--muted); font-size: 0.85em; }
    .scroll { overflow-x: auto; max-width: 100%; }
    table { border-collapse: collapse; margin: 6px 0 12px; font-size: 0.9em; }
    th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: right; vertical-align: top; }
    th { background: #f4f6f8; font-weight: bold; }
    th:first-child, td:first-child, td.text, th.text { text-align: left; }
    td.hash { font-family: "DejaVu Sans Mono", monospace; font-size: 0.8em; word-break: break-all; text-align: left; }
    table.kv td:first-child { color: var(--muted); white-space: nowrap; }
    table.kv td { text-align: left; overflow-wrap: anywhere; }
    table.sortable th { cursor: pointer; user-select: none; }
    table.sortable th::after { content: " \\2195"; color: #aaa; font-weight: normal; }
    figure { margin: 10px 0 18px; break-inside: avoid; page-break-inside: avoid; }
    figure svg { display: block; width: 100%; height: auto; }
    figcaption { color: var(--muted); font-size: 0.85em; margin-top: 4px; }
    .grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 460px), 1fr)); gap: 16px; }
    details pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.8em; background: #f7f7f7; padding: 8px; }
    .run { margin-top: 28px; }
    .thumbs { display: flex; flex-wrap: wrap; gap: 10px; }
    figure.thumb { margin: 0; width: 96px; font-size: 0.75em; text-align: center; overflow-wrap: anywhere; }
    figure.thumb img { display: block; margin: 0 auto; width: 84px; height: 84px; image-rendering: pixelated;
                       border: 1px solid var(--line); }
    figure.thumb figcaption { margin-top: 2px; color: var(--ink); }
    @media (max-width: 600px) {
      body { font-size: 14px; }
      main { padding: 10px 10px 30px; }
      th, td { padding: 3px 5px; }
    }
    @page { size: A4; margin: 12mm; }
    @media print {
      body { font-size: 10.5pt; }
      main { max-width: none; padding: 0; }
      .scroll { overflow: visible; }
      table { font-size: 8.5pt; }
      table.sortable th::after { content: ""; }
      details { display: block; }
      h2, h3 { break-after: avoid; page-break-after: avoid; }
      .pagebreak { break-before: page; page-break-before: always; }
    }
    """

    /// Click a header of a `table.sortable` to sort its rows by that column (numbers by value,
    /// cells without a number last, then text); a second click reverses.
    static let sortScript = """
    document.querySelectorAll("table.sortable th").forEach(function (th) {
      th.addEventListener("click", function () {
        var table = th.closest("table"), body = table.tBodies[0];
        var i = Array.prototype.indexOf.call(th.parentNode.children, th);
        var dir = th.getAttribute("data-dir") === "asc" ? -1 : 1;
        th.setAttribute("data-dir", dir > 0 ? "asc" : "desc");
        Array.from(body.rows).sort(function (x, y) {
          var p = x.cells[i].textContent, q = y.cells[i].textContent;
          var a = parseFloat(p), b = parseFloat(q);
          if (isNaN(a) !== isNaN(b)) return isNaN(a) ? 1 : -1;
          if (!isNaN(a)) return dir * (a - b);
          return dir * p.localeCompare(q);
        }).forEach(function (row) { body.appendChild(row); });
      });
    });
    """
}
