//! HTML building blocks: escaping, the page layout, links with copy buttons, times, status
//! badges, pagers and the server-side SVG charts. Every text that comes from the chain or a
//! scheduler goes through [`esc`] (or a helper that calls it) before it reaches a page.

use std::fmt::Write as _;

/// `text` escaped for HTML text and attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: `body` inside the layout. `watch` lists the ids whose updates refresh the
/// page live (`*` for every update).
pub(crate) fn layout(title: &str, watch: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · decloud explorer</title>\
         <link rel=\"stylesheet\" href=\"/static/app.css\"></head>\
         <body data-watch=\"{watch}\">\
         <a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header><nav aria-label=\"Main\"><a class=\"brand\" href=\"/\">decloud explorer</a>\
         <a href=\"/orders\">Order book</a>\
         <form action=\"/search\" role=\"search\"><label for=\"q\" class=\"sr\">Search</label>\
         <input id=\"q\" name=\"q\" placeholder=\"Task, deal, transaction or address\" \
         autocomplete=\"off\" spellcheck=\"false\" required>\
         <button type=\"submit\">Search</button></form></nav>\
         <span id=\"live\" class=\"live\" role=\"status\">connecting…</span></header>\
         <main id=\"main\" tabindex=\"-1\">{body}</main>\
         <footer><a id=\"json\" href=\"?format=json\">This page as JSON</a> · times are shown \
         in your time zone</footer>\
         <script src=\"/static/app.js\" defer></script></body></html>",
        title = esc(title),
        watch = esc(watch),
    )
}

/// `id` shortened for reading (the whole id stays in the link and the copy button).
pub(crate) fn short(id: &str) -> String {
    if id.len() > 14 {
        format!("{}…{}", &id[..8], &id[id.len() - 4..])
    } else {
        id.to_owned()
    }
}

/// A link to the page of `id` under `/kind/`, with a button copying the whole id.
pub(crate) fn link(kind: &str, id: &str) -> String {
    let id = esc(id);
    format!(
        "<a class=\"id\" href=\"/{kind}/{id}\" title=\"{id}\">{}</a>{}",
        short(&id),
        copy(&id)
    )
}

/// A button copying `text` (already escaped) to the clipboard.
pub(crate) fn copy(escaped: &str) -> String {
    format!(
        "<button type=\"button\" class=\"copy\" data-copy=\"{escaped}\" \
         aria-label=\"Copy {escaped}\" title=\"Copy\">copy</button>"
    )
}

/// An id shown whole (the page's own), with its copy button.
pub(crate) fn full_id(id: &str) -> String {
    let id = esc(id);
    format!("<code class=\"full\">{id}</code>{}", copy(&id))
}

/// A unix time, as UTC text the browser rewrites in the viewer's zone.
pub(crate) fn time(t: u64) -> String {
    if t == 0 {
        return "—".into();
    }
    format!(
        "<time datetime=\"{}\" data-t=\"{t}\">{}</time>",
        iso(t),
        utc(t)
    )
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn iso(t: u64) -> String {
    let (y, m, d, hh, mm, ss) = civil(t);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

fn utc(t: u64) -> String {
    let (y, m, d, hh, mm, ss) = civil(t);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02} UTC")
}

/// Calendar date and time of a unix time (Howard Hinnant's days-from-civil, inverted).
fn civil(t: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = (t / 86_400) as i64;
    let secs = t % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
}

/// A status badge (`ACTIVE`, `COMPLETED`, `failed`...), with an id for live checks.
pub(crate) fn status(status: &str, id: Option<&str>) -> String {
    let class: String = status
        .to_lowercase()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let id = id.map(|i| format!(" id=\"{i}\"")).unwrap_or_default();
    format!("<span class=\"st st-{class}\"{id}>{}</span>", esc(status))
}

/// Previous and next links of a paged list; `base` is the page's path (with its other query).
pub(crate) fn pager(base: &str, param: &str, page: u64, more: bool) -> String {
    if page == 0 && !more {
        return String::new();
    }
    let sep = if base.contains('?') { "&amp;" } else { "?" };
    let mut out = String::from("<nav class=\"pager\" aria-label=\"Pages\">");
    if page > 0 {
        let _ = write!(
            out,
            "<a rel=\"prev\" href=\"{}{sep}{param}={}\">← Newer</a>",
            esc(base),
            page - 1
        );
    }
    let _ = write!(out, "<span>page {}</span>", page + 1);
    if more {
        let _ = write!(
            out,
            "<a rel=\"next\" href=\"{}{sep}{param}={}\">Older →</a>",
            esc(base),
            page + 1
        );
    }
    out.push_str("</nav>");
    out
}

/// The links of a list paged by key: back to the newest rows when not on them, and to the
/// rows before `next` when more follow.
pub(crate) fn keyset_pager(base: &str, paged: bool, next: Option<&str>) -> String {
    if !paged && next.is_none() {
        return String::new();
    }
    let mut out = String::from("<nav class=\"pager\" aria-label=\"Pages\">");
    if paged {
        let _ = write!(out, "<a href=\"{}\">← Newest</a>", esc(base));
    }
    if let Some(next) = next {
        let _ = write!(
            out,
            "<a rel=\"next\" href=\"{}?before={}\">Older →</a>",
            esc(base),
            esc(next)
        );
    }
    out.push_str("</nav>");
    out
}

/// A table with these headers and rows (cells already HTML), or `empty` when there are none.
pub(crate) fn table(caption: &str, headers: &[&str], rows: &[Vec<String>], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"empty\">{empty}</p>");
    }
    let mut out = format!(
        "<div class=\"scroll\"><table><caption class=\"sr\">{}</caption><thead><tr>",
        esc(caption)
    );
    for h in headers {
        let _ = write!(out, "<th scope=\"col\">{h}</th>");
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let label = headers.get(i).copied().unwrap_or_default();
            let _ = write!(out, "<td data-label=\"{label}\">{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// A definition list of facts (values already HTML).
pub(crate) fn facts(items: &[(&str, String)]) -> String {
    let mut out = String::from("<dl class=\"facts\">");
    for (k, v) in items {
        let _ = write!(out, "<dt>{k}</dt><dd>{v}</dd>");
    }
    out.push_str("</dl>");
    out
}

/// A small line chart of `values` (oldest first) with a label read by screen readers.
pub(crate) fn sparkline(values: &[u64], label: &str) -> String {
    // One point alone draws no line: it is drawn as a flat one.
    let single;
    let values = if let [v] = values {
        single = [*v, *v];
        &single[..]
    } else {
        values
    };
    let (w, h) = (240.0, 48.0);
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = values.len().max(2) as f64 - 1.0;
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * w / n,
                h - 4.0 - (*v as f64 / max) * (h - 8.0)
            )
        })
        .collect();
    format!(
        "<svg class=\"spark\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{label}\">\
         <title>{label}</title><polyline fill=\"none\" stroke=\"currentColor\" \
         stroke-width=\"2\" points=\"{}\"/></svg>",
        points.join(" "),
        label = esc(label)
    )
}

/// A worker's score over time (points of block order), with the last value labelled.
pub(crate) fn score_chart(scores: &[(u64, u64)]) -> String {
    if scores.is_empty() {
        return "<p class=\"empty\">No score change yet: a score moves when a replicated task \
                (trust above 1) this worker contributed to ends.</p>"
            .into();
    }
    let values: Vec<u64> = scores.iter().map(|(_, s)| *s).collect();
    let last = values.last().copied().unwrap_or_default();
    format!(
        "<figure>{}<figcaption>Score after each replicated task it contributed to \
         (now {last}).</figcaption></figure>",
        sparkline(
            &values,
            &format!("score history, {} points, now {last}", values.len())
        )
    )
}

/// One mark of a task's timeline: an on-chain event (a point) or an off-chain stage (a bar
/// as long as the worker says it took).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mark {
    /// When (unix milliseconds).
    pub(crate) at_ms: u64,
    /// How long (0 for an event).
    pub(crate) millis: u64,
    /// What it is.
    pub(crate) label: String,
    /// An on-chain event (filled) or an off-chain stage (hollow).
    pub(crate) chain: bool,
}

/// A task's timeline: one row per on-chain event and per off-chain stage, on a time axis.
pub(crate) fn timeline(marks: &[Mark]) -> String {
    if marks.is_empty() {
        return String::new();
    }
    let start = marks.iter().map(|m| m.at_ms).min().unwrap_or(0);
    let end = marks
        .iter()
        .map(|m| m.at_ms + m.millis)
        .max()
        .unwrap_or(0)
        .max(start + 1);
    let (w, row) = (600.0, 18.0);
    let h = row * marks.len() as f64 + 24.0;
    let span = (end - start) as f64;
    let x_of = |t: u64| 8.0 + (t - start) as f64 / span * (w - 16.0);
    let mut out = format!(
        "<svg class=\"timeline\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
         aria-label=\"Timeline of {} steps over {:.1} s\"><title>Timeline: on-chain events \
         (filled) and the stages workers report (hollow bars)</title>\
         <line x1=\"0\" y1=\"{y}\" x2=\"{w}\" y2=\"{y}\" stroke=\"#555\"/>",
        marks.len(),
        span / 1000.0,
        y = h - 12.0
    );
    for (i, m) in marks.iter().enumerate() {
        let x = x_of(m.at_ms);
        let y = 12.0 + i as f64 * row;
        if m.chain || m.millis == 0 {
            let fill = if m.chain { "#1a4f8b" } else { "#fff" };
            let _ = write!(
                out,
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"5\" fill=\"{fill}\" \
                 stroke=\"#1a4f8b\" stroke-width=\"2\"/>"
            );
        } else {
            let bar = (x_of(m.at_ms + m.millis) - x).max(3.0);
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"10\" fill=\"#fff\" \
                 stroke=\"#1a4f8b\" stroke-width=\"2\"/>",
                y - 5.0
            );
        }
        // Labels of late marks go left of their mark, so that none runs off the chart.
        let (tx, anchor) = if x > w / 2.0 {
            (x - 10.0, "end")
        } else {
            (x + 10.0, "start")
        };
        let _ = write!(
            out,
            "<text x=\"{tx:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"{anchor}\">\
             +{:.1}s {}</text>",
            y + 4.0,
            (m.at_ms - start) as f64 / 1000.0,
            esc(&m.label)
        );
    }
    let _ = write!(
        out,
        "<text x=\"0\" y=\"{:.1}\" font-size=\"11\">{}</text></svg>",
        h - 1.0,
        esc(&utc(start / 1000))
    );
    out
}

/// A stage's figures for a person: `1.2 s, 3.4 kB` or `35 ms, 1,234,567 fuel`.
pub(crate) fn stage_text(millis: u64, bytes: Option<u64>, fuel: Option<u64>) -> String {
    let mut out = if millis >= 1000 {
        format!("{:.1} s", millis as f64 / 1000.0)
    } else {
        format!("{millis} ms")
    };
    if let Some(b) = bytes {
        let _ = write!(out, ", {}", human_bytes(b));
    }
    if let Some(f) = fuel {
        let _ = write!(out, ", {} fuel", grouped(f));
    }
    out
}

fn human_bytes(b: u64) -> String {
    match b {
        0..1000 => format!("{b} B"),
        1000..1_000_000 => format!("{:.1} kB", b as f64 / 1e3),
        _ => format!("{:.1} MB", b as f64 / 1e6),
    }
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The page of an error or an empty result: what happened and what to do.
pub(crate) fn notice(title: &str, what_to_do: &str) -> String {
    format!(
        "<h1>{}</h1><p class=\"notice\">{}</p>",
        esc(title),
        esc(what_to_do)
    )
}

/// The stylesheet.
pub(crate) const CSS: &str = r#"
:root{--fg:#1b1b1b;--muted:#4a4a4a;--bg:#fff;--panel:#f4f6f8;--link:#0b4f9c;--line:#d0d5db;--focus:#b35c00}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--link)}
a:focus,button:focus,input:focus,main:focus{outline:3px solid var(--focus);outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:4px 8px;z-index:9}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
header{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:8px;padding:8px 16px;background:#102a43;color:#fff}
header a{color:#fff}
nav[aria-label=Main]{display:flex;flex-wrap:wrap;align-items:center;gap:16px}
.brand{font-weight:700;text-decoration:none}
form[role=search]{display:flex;gap:4px}
form[role=search] input{width:min(60vw,420px);padding:6px 8px;border:1px solid #9fb3c8;border-radius:4px;font:inherit}
button{font:inherit;padding:4px 10px;border:1px solid #52606d;border-radius:4px;background:#e4e7eb;color:#1b1b1b;cursor:pointer}
.live{font-size:.85em;color:#d9e2ec}
main{max-width:1200px;margin:0 auto;padding:16px}
h1{font-size:1.5em;margin:.2em 0 .6em;word-break:break-all}
h2{font-size:1.2em;margin-top:1.6em}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;background:var(--panel);padding:12px;border-radius:6px}
.facts dt{font-weight:600;color:var(--muted)}.facts dd{margin:0;word-break:break-all}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--panel)}
td{overflow-wrap:anywhere}
td strong,td:last-child{white-space:nowrap;overflow-wrap:normal}
code,.id{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em}
.copy{font-size:.75em;padding:0 6px;margin-left:4px}
.st{display:inline-block;padding:0 8px;border-radius:10px;font-size:.85em;font-weight:600;border:1px solid currentColor}
.st-completed,.st-revealed,.st-contributed{color:#0f5b2b;background:#e3f4e8}
.st-failed,.st-rejected,.st-lost{color:#8a1c1c;background:#fbe9e9}
.st-active,.st-revealing,.st-assigned{color:#6b4400;background:#fff4d6}
.reason{white-space:pre-wrap;color:#8a1c1c}
.muted{color:var(--muted)}
.empty,.notice{background:var(--panel);padding:12px;border-radius:6px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:12px}
.card{background:var(--panel);padding:12px;border-radius:6px}
.card b{display:block;font-size:1.6em}
.spark{width:100%;max-width:240px;height:48px;color:#1a4f8b}
.timeline{width:100%;max-width:900px;height:auto}
.pager{display:flex;gap:16px;align-items:center;margin:8px 0}
footer{max-width:1200px;margin:24px auto;padding:0 16px;color:var(--muted);font-size:.9em}
@media (max-width:640px){
 thead{display:none}tr{display:block;border-bottom:2px solid var(--line);padding:6px 0}
 td{display:block;border:0;padding:2px 8px}td::before{content:attr(data-label) ": ";font-weight:600;color:var(--muted)}
 .facts{grid-template-columns:1fr}
}
"#;

/// The script: times in the viewer's zone, copy buttons, and live refresh of the page's main
/// part when the server announces a change to an id it shows.
pub(crate) const JS: &str = r#"
(function(){
  function localize(root){
    root.querySelectorAll('time[data-t]').forEach(function(el){
      var d=new Date(Number(el.dataset.t)*1000);
      el.textContent=d.toLocaleString();el.title=el.getAttribute('datetime');
    });
  }
  document.addEventListener('click',function(e){
    var b=e.target.closest('button.copy');if(!b)return;
    var text=b.dataset.copy;
    if(navigator.clipboard){navigator.clipboard.writeText(text).then(function(){b.textContent='copied';setTimeout(function(){b.textContent='copy';},1500);});}
  });
  localize(document);
  var watch=(document.body.dataset.watch||'').split(' ').filter(Boolean);
  var live=document.getElementById('live');
  if(!window.EventSource||!watch.length){if(live)live.textContent='';return;}
  var pending=false,again=false;
  function refresh(){
    if(pending){again=true;return;}
    pending=true;
    fetch(location.href,{headers:{'X-Partial':'1'}}).then(function(r){return r.ok?r.text():null;}).then(function(html){
      if(html!==null){var main=document.getElementById('main');main.innerHTML=html;localize(main);}
    }).finally(function(){pending=false;if(again){again=false;refresh();}});
  }
  var es=new EventSource('/events');
  es.onopen=function(){live.textContent='live';};
  es.onerror=function(){live.textContent='reconnecting…';};
  es.onmessage=function(ev){
    var u;try{u=JSON.parse(ev.data);}catch(e){return;}
    if(watch.indexOf('*')>=0||u.ids.indexOf('*')>=0||u.ids.some(function(i){return watch.indexOf(i)>=0;})){refresh();}
  };
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_network_is_escaped() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
        let html = link("task", "0x<b>");
        assert!(!html.contains("<b>"), "{html}");
    }

    #[test]
    fn times_are_calendar_dates() {
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso(1_796_212_800), "2026-12-02T12:00:00Z");
        assert_eq!(time(0), "—");
    }

    #[test]
    fn pagers_link_only_pages_that_exist() {
        assert_eq!(pager("/x", "page", 0, false), "");
        let p = pager("/deal/1?format=html", "page", 1, true);
        assert!(
            p.contains("page=0") && p.contains("page=2") && p.contains("&amp;page"),
            "{p}"
        );
    }

    #[test]
    fn charts_draw_every_point() {
        let svg = sparkline(&[0, 5, 10], "x");
        assert_eq!(svg.matches(',').count(), 3, "{svg}");
        let flat = sparkline(&[4], "one");
        assert_eq!(flat.matches(',').count(), 2, "{flat}");
        let mark = |at_ms, millis, label: &str, chain| Mark {
            at_ms,
            millis,
            label: label.into(),
            chain,
        };
        let t = timeline(&[mark(10_000, 0, "<i>", true), mark(12_000, 500, "b", false)]);
        assert!(t.contains("+2.0s b") && t.contains("&lt;i&gt;"), "{t}");
        assert_eq!(
            t.matches("<rect").count(),
            1,
            "a stage with a duration is a bar: {t}"
        );
        assert_eq!(
            stage_text(35, None, Some(1_234_567)),
            "35 ms, 1,234,567 fuel"
        );
        assert_eq!(stage_text(1500, Some(3400), None), "1.5 s, 3.4 kB");
    }
}
