/**
 * The monitor's dashboard: one self-contained page (no build step, no CDN)
 * that polls /api/state and draws instances, load distribution, queue depth
 * and dead letters over the last minutes with inline SVG.
 */
export function dashboardPage(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>
  :root { --bg:#0f1419; --panel:#1a2129; --fg:#e6e6e6; --dim:#8b98a5; --ok:#3fb950; --warn:#d29922; --bad:#f85149; --accent:#58a6ff; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, sans-serif; background:var(--bg); color:var(--fg); }
  header { display:flex; gap:24px; align-items:baseline; padding:16px 24px; border-bottom:1px solid #2d333b; flex-wrap:wrap; }
  header h1 { font-size:18px; margin:0; }
  .stat { display:flex; flex-direction:column; }
  .stat b { font-size:22px; }
  .stat span { color:var(--dim); font-size:12px; }
  main { display:grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap:16px; padding:16px 24px; }
  section { background:var(--panel); border-radius:8px; padding:12px 16px; }
  section h2 { font-size:14px; margin:0 0 8px; color:var(--dim); font-weight:600; }
  table { width:100%; border-collapse:collapse; }
  th, td { text-align:left; padding:4px 6px; border-bottom:1px solid #2d333b; white-space:nowrap; }
  th { color:var(--dim); font-weight:500; font-size:12px; }
  .badge { padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; }
  .ok { background:#1f3d2a; color:var(--ok); } .degraded { background:#3d331a; color:var(--warn); } .down { background:#3d1f1f; color:var(--bad); }
  .bar { height:10px; background:#2d333b; border-radius:5px; overflow:hidden; min-width:120px; }
  .bar > div { height:100%; background:var(--accent); }
  svg { width:100%; height:180px; }
  .legend { display:flex; gap:12px; flex-wrap:wrap; font-size:12px; color:var(--dim); }
  .legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; vertical-align:middle; }
  footer { padding:0 24px 16px; color:var(--dim); font-size:12px; }
</style>
</head>
<body>
<header>
  <h1>logship monitor</h1>
  <div class="stat"><b id="cluster-status">…</b><span>cluster</span></div>
  <div class="stat"><b id="instances-up">…</b><span>instances up</span></div>
  <div class="stat"><b id="events-out">…</b><span>events/s out (all)</span></div>
  <div class="stat"><b id="queue-ready">…</b><span>queue ready</span></div>
  <div class="stat"><b id="queue-consumers">…</b><span>consumers</span></div>
  <div class="stat"><b id="dead-letters">…</b><span>dead letters</span></div>
</header>
<main>
  <section style="grid-column: 1 / -1">
    <h2>Instances</h2>
    <table id="instances"><thead><tr><th>instance</th><th>role</th><th>health</th><th>events/s in</th><th>events/s out</th><th>share of work</th><th>unacked / in flight</th><th>memory</th></tr></thead><tbody></tbody></table>
  </section>
  <section><h2>Load distribution (events out per instance)</h2><div id="distribution"></div></section>
  <section><h2>Queue depth and dead letters</h2><svg id="queue-chart" viewBox="0 0 600 180" preserveAspectRatio="none"></svg><div class="legend"><span><i style="background:#58a6ff"></i>ready</span><span><i style="background:#f85149"></i>dead letters</span></div></section>
  <section style="grid-column: 1 / -1"><h2>Events/s out per instance</h2><svg id="rate-chart" viewBox="0 0 1200 180" preserveAspectRatio="none"></svg><div class="legend" id="rate-legend"></div></section>
</main>
<footer>updated <span id="updated">never</span> · refreshes every 2 s · <a href="/metrics" style="color:var(--accent)">/metrics</a> · <a href="/health" style="color:var(--accent)">/health</a></footer>
<script>
const COLORS = ['#58a6ff','#3fb950','#d29922','#bc8cff','#f778ba','#39c5cf','#ff7b72','#a5d6ff'];
const fmt = (n) => n === null || n === undefined ? '–' : n >= 1000 ? (n/1000).toFixed(1) + 'k' : (Math.round(n*10)/10).toString();
const bytes = (n) => n ? (n/1048576).toFixed(0) + ' MiB' : '–';
const SVG = 'http://www.w3.org/2000/svg';
function el(tag, attrs, text) { const e = document.createElement(tag); for (const k in attrs || {}) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; return e; }
function svgEl(tag, attrs, text) { const e = document.createElementNS(SVG, tag); for (const k in attrs || {}) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; return e; }
function line(svg, points, color, w, h, max) {
  if (points.length < 2) return;
  const t0 = points[0][0], t1 = points[points.length-1][0] || t0 + 1;
  const d = points.map(([t, v]) => ((t - t0) / Math.max(1, t1 - t0) * w).toFixed(1) + ',' + (h - 4 - (v / max) * (h - 12)).toFixed(1)).join(' ');
  svg.appendChild(svgEl('polyline', { points: d, fill: 'none', stroke: color, 'stroke-width': 2, 'vector-effect': 'non-scaling-stroke' }));
}
function render(s) {
  const inst = s.instances;
  const up = inst.filter(i => i.up).length;
  const degraded = inst.some(i => i.health !== 'ok') || (s.queue && s.queue.error);
  const status = document.getElementById('cluster-status');
  status.textContent = inst.length === 0 ? 'no targets' : degraded ? 'degraded' : 'ok';
  status.style.color = degraded ? 'var(--warn)' : 'var(--ok)';
  document.getElementById('instances-up').textContent = up + ' / ' + inst.length;
  document.getElementById('events-out').textContent = fmt(inst.reduce((a, i) => a + i.outPerSecond, 0));
  document.getElementById('queue-ready').textContent = s.queue ? fmt(s.queue.ready) : '–';
  document.getElementById('queue-consumers').textContent = s.queue ? fmt(s.queue.consumers) : '–';
  document.getElementById('dead-letters').textContent = s.queue ? fmt(s.queue.deadLetters) : '–';
  const tbody = document.querySelector('#instances tbody');
  tbody.replaceChildren(...inst.map((i) => {
    const tr = el('tr', { 'data-instance': i.instance });
    tr.appendChild(el('td', {}, i.instance));
    tr.appendChild(el('td', {}, i.role));
    const h = el('td'); h.appendChild(el('span', { class: 'badge ' + (i.up ? i.health : 'down') }, i.up ? i.health : 'down')); tr.appendChild(h);
    tr.appendChild(el('td', { class: 'rate-in' }, fmt(i.inPerSecond)));
    tr.appendChild(el('td', { class: 'rate-out' }, fmt(i.outPerSecond)));
    const share = el('td'); const bar = el('div', { class: 'bar', title: (i.share*100).toFixed(1) + '%' }); const fill = el('div'); fill.style.width = (i.share*100).toFixed(1) + '%'; bar.appendChild(fill); share.appendChild(bar); tr.appendChild(share);
    tr.appendChild(el('td', {}, fmt(i.unacked)));
    tr.appendChild(el('td', {}, bytes(i.memoryBytes)));
    return tr;
  }));
  const dist = document.getElementById('distribution');
  dist.replaceChildren(...inst.map((i, k) => {
    const row = el('div', { style: 'display:flex;gap:8px;align-items:center;margin:4px 0' });
    row.appendChild(el('span', { style: 'width:180px;overflow:hidden;text-overflow:ellipsis' }, i.instance));
    const bar = el('div', { class: 'bar', style: 'flex:1' }); const fill = el('div'); fill.style.width = (i.share*100).toFixed(1) + '%'; fill.style.background = COLORS[k % COLORS.length]; bar.appendChild(fill); row.appendChild(bar);
    row.appendChild(el('span', { class: 'share' }, (i.share*100).toFixed(1) + '% (' + fmt(i.eventsOut) + ')'));
    return row;
  }));
  const qs = document.getElementById('queue-chart'); qs.replaceChildren();
  const hist = s.history;
  const qmax = Math.max(10, ...hist.map(p => Math.max(p.queueReady || 0, p.deadLetters || 0)));
  line(qs, hist.filter(p => p.queueReady !== null).map(p => [p.t, p.queueReady]), '#58a6ff', 600, 180, qmax);
  line(qs, hist.filter(p => p.deadLetters !== null).map(p => [p.t, p.deadLetters]), '#f85149', 600, 180, qmax);
  qs.appendChild(svgEl('text', { x: 4, y: 12, fill: '#8b98a5', 'font-size': 11 }, 'max ' + fmt(qmax)));
  const rs = document.getElementById('rate-chart'); rs.replaceChildren();
  const names = inst.map(i => i.instance);
  const rmax = Math.max(10, ...hist.flatMap(p => Object.values(p.outPerSecond)));
  names.forEach((n, k) => line(rs, hist.filter(p => n in p.outPerSecond).map(p => [p.t, p.outPerSecond[n]]), COLORS[k % COLORS.length], 1200, 180, rmax));
  rs.appendChild(svgEl('text', { x: 4, y: 12, fill: '#8b98a5', 'font-size': 11 }, 'max ' + fmt(rmax) + '/s'));
  document.getElementById('rate-legend').replaceChildren(...names.map((n, k) => { const sp = el('span'); const i = el('i'); i.style.background = COLORS[k % COLORS.length]; sp.appendChild(i); sp.appendChild(document.createTextNode(n)); return sp; }));
  document.getElementById('updated').textContent = new Date(s.at || Date.now()).toLocaleTimeString();
}
async function refresh() {
  try { const r = await fetch('/api/state', { cache: 'no-store' }); render(await r.json()); }
  catch (e) { document.getElementById('cluster-status').textContent = 'monitor unreachable'; }
  setTimeout(refresh, 2000);
}
refresh();
</script>
</body>
</html>
`;
}
