/** The generator's page: a form that POSTs /generate, and live totals. No build step, no CDN. */
export function generatorPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>logship generator</title>
<style>
  body { font:14px/1.5 system-ui, sans-serif; margin:0; background:#0f1419; color:#e6e6e6; }
  main { max-width:560px; margin:40px auto; padding:24px; background:#1a2129; border-radius:8px; }
  h1 { font-size:20px; margin-top:0; }
  label { display:block; margin:12px 0 4px; color:#8b98a5; }
  input, select, button { font:inherit; padding:6px 10px; border-radius:6px; border:1px solid #2d333b; background:#0f1419; color:#e6e6e6; width:100%; box-sizing:border-box; }
  button { margin-top:16px; background:#238636; border-color:#2ea043; cursor:pointer; }
  button:disabled { opacity:.6; cursor:wait; }
  #result { margin-top:16px; min-height:1.5em; }
  .error { color:#f85149; } .ok { color:#3fb950; }
  .stats { display:flex; gap:24px; margin-top:20px; color:#8b98a5; }
  .stats b { display:block; font-size:22px; color:#e6e6e6; }
</style>
</head>
<body>
<main>
  <h1>logship generator</h1>
  <p>Publishes synthetic log events through the shipper (persistent, confirmed) to the exchange.</p>
  <form id="form">
    <label for="count">events</label><input id="count" name="count" type="number" min="1" max="100000" value="500" required>
    <label for="level">level</label>
    <select id="level" name="level"><option>mixed</option><option>debug</option><option selected>info</option><option>warn</option><option>error</option></select>
    <label for="format">format</label>
    <select id="format" name="format"><option>plain</option><option>json</option><option>nginx</option><option>syslog</option></select>
    <button id="submit" type="submit">Generate</button>
  </form>
  <div id="result"></div>
  <div class="stats"><div><b id="published">0</b>published since start</div><div><b id="inflight">0</b>awaiting confirm</div></div>
</main>
<script>
const form = document.getElementById('form');
const result = document.getElementById('result');
form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const button = document.getElementById('submit');
  button.disabled = true;
  result.className = ''; result.textContent = 'publishing…';
  try {
    const body = { count: Number(form.count.value), level: form.level.value, format: form.format.value };
    const r = await fetch('/generate', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const data = await r.json();
    if (r.ok) { result.className = 'ok'; result.textContent = 'published ' + data.published + ' of ' + data.requested + ' events'; }
    else { result.className = 'error'; result.textContent = 'error: ' + data.error; }
  } catch (err) { result.className = 'error'; result.textContent = 'error: ' + err.message; }
  button.disabled = false;
  stats();
});
async function stats() {
  try {
    const s = await (await fetch('/api/stats', { cache: 'no-store' })).json();
    document.getElementById('published').textContent = s.published;
    document.getElementById('inflight').textContent = s.inflight;
  } catch {}
}
stats(); setInterval(stats, 2000);
</script>
</body>
</html>
`;
}
