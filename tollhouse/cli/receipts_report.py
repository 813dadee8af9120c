"""``tollhouse receipts report``: one self-contained HTML page of the calls, for a person's browser.

Receipts carry text a model chose (arguments, tool names, messages, case ids), so the page treats
every value as data, never as markup, three times over:

1. the calls travel as JSON inside ``<script type="application/json">``, with ``<``, ``>`` and ``&``
   written as ``\\u003c``-style escapes, so no value can close that element or open another;
2. the page's own script builds the timeline with ``textContent`` and ``createElement`` only;
3. a Content-Security-Policy allows exactly that one script (by its sha256) and no other: no
   inline handler, no image, no network, even if 1 and 2 had a hole.

The page needs nothing but itself: no external stylesheet, script, font or image.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tollhouse import __version__

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{padding:16px 24px;background:#fff;border-bottom:1px solid #ddd}
h1{font-size:18px;margin:0 0 4px}
.meta{color:#666;font-size:12px}
form{display:flex;gap:12px;flex-wrap:wrap;padding:12px 24px;background:#fff;border-bottom:1px solid #ddd}
label{font-size:12px;color:#444}
select,input{font:inherit;margin-left:4px}
ol{list-style:none;margin:0;padding:12px 24px}
li.call{background:#fff;border:1px solid #ddd;border-left:6px solid #999;border-radius:6px;margin:0 0 8px;
padding:8px 12px}
li.o-ok{border-left-color:#2e7d32}li.o-denied,li.o-error{border-left-color:#c62828}
li.o-needs_approval,li.o-timeout,li.o-pending{border-left-color:#f9a825}
.row{display:flex;gap:12px;flex-wrap:wrap;align-items:baseline}
.tool{font-weight:600}.time,.id{color:#666;font-family:ui-monospace,monospace;font-size:12px}
.badge{border-radius:4px;padding:0 6px;font-size:12px;background:#eee}
.b-allow,.b-ok{background:#e8f5e9}.b-deny,.b-denied,.b-error{background:#ffebee}
.b-ask,.b-needs_approval,.b-pending,.b-timeout{background:#fff8e1}
details{margin-top:4px}pre{white-space:pre-wrap;word-break:break-word;background:#f4f4f4;padding:6px;
margin:4px 0;font-size:12px}
#count{font-size:12px;color:#444;align-self:center}
"""

SCRIPT = """
(function () {
  "use strict";
  var calls = JSON.parse(document.getElementById("calls").textContent);
  var list = document.getElementById("timeline");
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function safe(word) { return String(word).replace(/[^a-z_]/g, ""); }
  function options(id, key) {
    var select = document.getElementById(id), seen = {};
    calls.forEach(function (c) { seen[c[key] || "-"] = true; });
    Object.keys(seen).sort().forEach(function (v) { select.appendChild(el("option", null, v)).value = v; });
  }
  options("f-outcome", "outcome"); options("f-decision", "decision"); options("f-tool", "tool");
  calls.forEach(function (c) {
    var item = el("li", "call o-" + safe(c.outcome));
    item.setAttribute("data-call-id", c.call_id || "");
    item.setAttribute("data-outcome", c.outcome || "-");
    item.setAttribute("data-decision", c.decision || "-");
    item.setAttribute("data-tool", c.tool || "-");
    var row = el("div", "row");
    row.appendChild(el("span", "time", (c.time || "").replace("T", " ").slice(0, 19)));
    row.appendChild(el("span", "tool", c.tool || "(event)"));
    row.appendChild(el("span", "badge b-" + safe(c.decision), "decision: " + (c.decision || "-")));
    row.appendChild(el("span", "badge b-" + safe(c.outcome), "outcome: " + c.outcome));
    if (c.approver) row.appendChild(el("span", "approver", "approved by " + c.approver));
    if (c.case_id) row.appendChild(el("span", "case", "case " + c.case_id));
    if (c.duration_us !== null && c.duration_us !== undefined)
      row.appendChild(el("span", "time", (c.duration_us / 1000).toFixed(1) + " ms"));
    row.appendChild(el("span", "id", c.call_id ? c.call_id.slice(0, 12) : ""));
    item.appendChild(row);
    if (c.message) item.appendChild(el("div", "message", c.message));
    var more = el("details");
    more.appendChild(el("summary", null, "receipts " + c.seqs.join(", ") + " \\u00b7 rules " +
      ((c.rules || []).join(", ") || "-") + " \\u00b7 " + (c.operator || "") + " via " + (c.channel || "-")));
    more.appendChild(el("pre", "arguments", JSON.stringify(c.arguments, null, 2)));
    if (c.excerpt) more.appendChild(el("pre", "excerpt", c.excerpt));
    item.appendChild(more);
    item.searchText = JSON.stringify(c).toLowerCase();
    list.appendChild(item);
  });
  var count = document.getElementById("count");
  function apply() {
    function value(id) { return document.getElementById(id).value; }
    var o = value("f-outcome"), d = value("f-decision"), t = value("f-tool");
    var q = value("f-text").toLowerCase();
    var shown = 0;
    Array.prototype.forEach.call(list.children, function (item) {
      var ok = (!o || item.getAttribute("data-outcome") === o) &&
        (!d || item.getAttribute("data-decision") === d) &&
        (!t || item.getAttribute("data-tool") === t) && (!q || item.searchText.indexOf(q) >= 0);
      item.hidden = !ok;
      if (ok) shown++;
    });
    count.textContent = shown + " of " + calls.length + " calls shown";
  }
  document.querySelector("form").addEventListener("submit", function (e) { e.preventDefault(); });
  ["f-outcome", "f-decision", "f-tool", "f-text"].forEach(function (id) {
    document.getElementById(id).addEventListener("input", apply);
  });
  apply();
  document.body.setAttribute("data-rendered", String(calls.length));
})();
"""


def _json_for_script(data: Any) -> str:
    """JSON that cannot end its <script> element or start markup: <, > and & as \\u escapes (JSON
    reads them back unchanged), and the two line separators JavaScript once treated as newlines."""
    text = json.dumps(data, ensure_ascii=False, default=str)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                         ("\u2029", "\\u2029")):  # fmt: skip
        text = text.replace(char, escape)
    return text


def render(calls: list[dict[str, Any]], *, source: str, filters: str) -> str:
    script_hash = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    csp = (
        "default-src 'none'; "
        f"script-src 'sha256-{script_hash}'; style-src 'unsafe-inline'; "
        "img-src 'none'; connect-src 'none'; form-action 'none'; base-uri 'none'"
    )
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    select = "".join(
        f'<label>{name} <select id="f-{name}"><option value="">all</option></select></label>'
        for name in ("outcome", "decision", "tool")
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>tollhouse receipts report</title>\n"
        f"<style>{STYLE}</style></head>\n<body>\n"
        "<header><h1>tollhouse receipts report</h1>"
        f'<div class="meta">{len(calls)} calls from {html.escape(source)} · {html.escape(filters)} · '
        f"made {made} by tollhouse {html.escape(__version__)}. The signed record is the receipt store: "
        "check it with <code>tollhouse receipts verify</code>.</div></header>\n"
        f"<form>{select}"
        '<label>text <input id="f-text" type="search" placeholder="tool, path, message..."></label>'
        '<span id="count"></span></form>\n'
        "<noscript><p>This report draws its timeline with JavaScript; the calls are in the "
        "page source as JSON.</p></noscript>\n"
        '<ol id="timeline"></ol>\n'
        f'<script type="application/json" id="calls">{_json_for_script(calls)}</script>\n'
        f"<script>{SCRIPT}</script>\n</body></html>\n"
    )


def write_report(out: Path, calls: list[dict[str, Any]], *, source: str, filters: str) -> None:
    """Write atomically: a half-written page never replaces a good one."""
    import os

    text = render(calls, source=source, filters=filters)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def cmd_report(args: Any) -> int:
    import sys

    from tollhouse.cli import exitcodes
    from tollhouse.cli import receipts_calls as rc
    from tollhouse.cli.receipts_cmd import _err, _source

    if args.n < 0:
        return _err("-n must be 0 (every call) or more", exitcodes.USAGE)
    try:
        since = rc.parse_since(args.since) if args.since is not None else None
    except ValueError as exc:
        return _err(str(exc), exitcodes.USAGE)
    db = _source(args)
    filters = {"tool": args.tool, "case_id": args.case, "outcome": args.outcome}
    calls = rc.recent_calls(db, limit=args.n or None, since=since, **filters) if db.exists() else []
    said = [f"{k} {v}" for k, v in (("since", args.since), *filters.items()) if v is not None]
    shown = ", ".join(said) if said else "no filters"
    shown += f", the last {args.n}" if args.n else ", every call"
    out = Path(args.out)
    try:
        write_report(out, [c.to_json() for c in calls], source=str(db), filters=shown)
    except OSError as exc:
        from tollhouse.cli.errors import explain

        message, code = explain(exc) or (f"cannot write {out}: {exc.strerror or exc}", exitcodes.USAGE)
        return _err(message, code)
    if args.json:
        print(json.dumps({"out": str(out), "calls": len(calls), "filters": shown}))
    else:
        print(f"wrote {out}: {len(calls)} calls ({shown}). Open it in a browser: file://{out.resolve()}")
    sys.stdout.flush()
    return exitcodes.OK


def register_report(actions: Any, fmt: Any) -> None:
    from tollhouse.receipts.schema import OUTCOMES

    report = actions.add_parser(
        "report",
        help="write a self-contained HTML page of the calls (timeline, decisions, approvals, filters)",
        description="Write one HTML file that any browser opens with no network: a timeline of calls "
        "with the policy's decision, the outcome, who approved, the arguments and the receipts behind "
        "each, and filters by outcome, decision, tool and text. What a model wrote is shown as text; a "
        "Content-Security-Policy lets only the page's own script run.",
        epilog="examples:\n  tollhouse receipts report                  receipts-report.html, every call\n"
        "  tollhouse receipts report --since 1d --out today.html\n"
        "  tollhouse receipts report --outcome denied -n 100 --json",
        formatter_class=fmt,
    )
    report.add_argument("--out", default="receipts-report.html", metavar="FILE",
                        help="where to write the page (default receipts-report.html)")  # fmt: skip
    report.add_argument(
        "-n", type=int, default=0, metavar="N", help="only the last N calls (default 0: every call)"
    )
    report.add_argument(
        "--since", metavar="WHEN", help="only calls begun since: 30s, 10m, 2h, 7d, or a date/time"
    )
    report.add_argument("--tool", help="only calls of this tool")
    report.add_argument("--case", help="only calls filed under this case id")
    report.add_argument("--outcome", choices=[*OUTCOMES, "pending"], help="only calls that ended so")
    report.add_argument("--json", action="store_true", help="what was written, as JSON")
    from tollhouse.cli.receipts_cmd import add_log_option

    add_log_option(report)
    report.set_defaults(handler=lambda args: _run_report(args))


def _run_report(args: Any) -> int:
    from tollhouse.cli.receipts_cmd import _run

    return _run(args, cmd_report)
