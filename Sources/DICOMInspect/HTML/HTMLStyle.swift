/// The report's style sheet and filter script, inline (the page opens on a workstation without
/// network access: no font, style or script is fetched). Status classes carry a colour each
/// (success green, pending blue, warning amber, failure red, cancel grey); every coloured mark
/// also carries its words.
enum HTMLStyle {
    static let css: StaticString = """
    :root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#ffffff;--panel:#f6f8fa;
    --success:#1a7f37;--pending:#0969da;--warning:#9a6700;--failure:#cf222e;--cancel:#6e7781;--unknown:#8250df;--assoc:#24292f}
    *{box-sizing:border-box}
    body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI","DejaVu Sans",Arial,sans-serif;color:var(--fg);background:var(--bg)}
    #page{display:flex;flex-direction:column;max-width:1400px;margin:0 auto;padding:16px 20px}
    header.top{order:-2} #overview{order:-1}
    h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:0 0 4px} h3{font-size:15px;margin:14px 0 6px}
    .meta,.none,.sub-title{color:var(--muted);margin:0 0 10px}
    section{border-top:1px solid var(--line);padding:14px 0}
    section.hidden,g.hidden{display:none}
    .cols{display:flex;gap:20px;align-items:flex-start;flex-wrap:wrap}
    .ladder-box{flex:0 0 auto;overflow-x:auto}
    .tables{flex:1 1 480px;min-width:0}
    table{border-collapse:collapse;width:100%;margin-bottom:8px;font-size:13px}
    th,td{border-bottom:1px solid var(--line);padding:4px 6px;text-align:left;vertical-align:top}
    td{overflow-wrap:break-word} table.kv td{word-break:break-all}
    th{background:var(--panel);font-weight:600}
    td.num{text-align:right;white-space:nowrap}
    .uid{display:block;color:var(--muted);font:11px ui-monospace,"DejaVu Sans Mono",monospace;word-break:break-all}
    .sop,.dir,.comment,.explain{color:var(--muted);font-size:12px}
    .comment{color:var(--failure)}
    tr.rejected td{background:#fff5f5} tr.bandrow td{background:#f6f8fa}
    .badge{display:inline-block;padding:0 6px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;background:var(--unknown);white-space:nowrap}
    .badge.success,.badge.released{background:var(--success)} .badge.pending{background:var(--pending)}
    .badge.warning{background:var(--warning)} .badge.failure,.badge.error,.badge.rejected,.badge.aborted{background:var(--failure)}
    .badge.cancel,.badge.info,.badge.incomplete{background:var(--cancel)}
    p.why{font-weight:600} p.why.failure{color:var(--failure)}
    ul.findings{padding-left:18px;margin:0} ul.findings li{margin-bottom:6px}
    code{font:12px ui-monospace,"DejaVu Sans Mono",monospace}
    .controls{display:flex;gap:12px;align-items:center;margin:8px 0 12px;flex-wrap:wrap}
    .controls input,.controls select{font:inherit;padding:4px 8px;border:1px solid var(--line);border-radius:6px}
    .controls input{width:340px}
    .charts{display:flex;flex-wrap:wrap;gap:16px}
    .chart{border:1px solid var(--line);border-radius:6px;padding:8px;background:var(--panel)}
    .warnings li{color:var(--warning)}
    svg text{font-family:system-ui,"DejaVu Sans",Arial,sans-serif}
    svg.ladder{background:#fff}
    svg .head{fill:var(--panel);stroke:var(--line)} svg .role{font-size:11px;fill:var(--muted)}
    svg .ae{font-size:13px;font-weight:600;fill:var(--fg)} svg .addr{font-size:10px;fill:var(--muted)}
    svg .lifeline{stroke:#8c959f;stroke-width:2;stroke-dasharray:4 3}
    svg .t{font-size:10px;fill:var(--muted)}
    svg .label{font-size:12px} svg .note{font-size:11px;fill:var(--muted)} svg .sub{font-size:11px;fill:var(--fg)}
    svg g.msg line{stroke-width:2} svg g.msg polygon{stroke:none}
    svg g.success line{stroke:var(--success)} svg g.success polygon,svg g.success .label{fill:var(--success)}
    svg g.pending line{stroke:var(--pending)} svg g.pending polygon,svg g.pending .label{fill:var(--pending)}
    svg g.warning line{stroke:var(--warning)} svg g.warning polygon,svg g.warning .label{fill:var(--warning)}
    svg g.failure line,svg g.abort line,svg g.reject line{stroke:var(--failure)}
    svg g.failure polygon,svg g.failure .label,svg g.abort polygon,svg g.abort .label,svg g.reject polygon,svg g.reject .label{fill:var(--failure)}
    svg g.abort line,svg g.reject line{stroke-dasharray:6 3}
    svg g.cancel line{stroke:var(--cancel);stroke-dasharray:3 3} svg g.cancel polygon,svg g.cancel .label{fill:var(--cancel)}
    svg g.unknown line,svg g.stray line{stroke:var(--unknown)} svg g.unknown polygon,svg g.unknown .label,svg g.stray polygon,svg g.stray .label{fill:var(--unknown)}
    svg g.request line,svg g.association line,svg g.release line{stroke:var(--assoc)}
    svg g.request polygon,svg g.association polygon,svg g.release polygon{fill:var(--assoc)}
    svg g.band rect{fill:#f6f8fa;stroke:var(--line)} svg g.band.success rect{fill:#dafbe1;stroke:var(--success)}
    svg g.band.failure rect{fill:#ffebe9;stroke:var(--failure)} svg g.band.warning rect{fill:#fff8c5;stroke:var(--warning)}
    svg g.band .label{font-weight:600}
    svg g.spark rect{fill:#fff;stroke:var(--line)} svg g.spark polyline{fill:none;stroke:var(--pending);stroke-width:1.5}
    svg g.marker polygon{fill:var(--warning)} svg g.marker.error polygon{fill:var(--failure)} svg g.marker.info polygon{fill:var(--cancel)}
    svg g.marker text{font-size:11px;fill:var(--fg)}
    svg g.pause line{stroke:#afb8c1;stroke-dasharray:2 4} svg g.pause text{font-size:11px;fill:var(--muted)}
    svg .axis line{stroke:var(--line)} svg .axis text{font-size:10px;fill:var(--muted)}
    svg g.bar rect{fill:var(--cancel)} svg g.bar.released rect{fill:var(--success)} svg g.bar.rejected rect,svg g.bar.aborted rect{fill:var(--failure)}
    svg g.bar text{font-size:12px;fill:var(--fg)} svg g.bar a:hover text{text-decoration:underline}
    svg .hbar{fill:var(--pending)} svg .hcount{font-size:10px;fill:var(--fg)} svg .hlabel{font-size:10px;fill:var(--muted)}
    """

    static let script: StaticString = """
    (function(){
      var q=document.getElementById('filter'),o=document.getElementById('outcome');
      if(!q||!o)return;
      function apply(){
        var t=q.value.trim().toLowerCase(),oc=o.value;
        document.querySelectorAll('[data-filter]').forEach(function(e){
          var ok=(!t||e.getAttribute('data-filter').indexOf(t)>=0)&&(!oc||e.getAttribute('data-outcome')===oc);
          e.classList.toggle('hidden',!ok);
        });
      }
      q.addEventListener('input',apply);o.addEventListener('change',apply);
    })();
    """
}
