/**
 * What operators look at: the dashboard and the generator page in headless
 * Chromium (screenshots kept in test-output/), and a real Prometheus that
 * scrapes the monitor and the indexers; promtool checks every /metrics and
 * the alert rules.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { ROOT, startCli } from '../helpers/cli.js';
import { bootstrap, numberedLines, ship, type IndexerProcess, type startServing } from '../helpers/pipeline.js';
import { freePort } from '../helpers/ports.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { waitFor } from '../helpers/wait.js';

const OUT = path.join(ROOT, 'test-output');
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
// on CI the tools are installed by .ci/run: a missing one is a failure there, a skip elsewhere
const missing = (what: string, ok: boolean) => (ok ? false : process.env.CI ? false : `${what} not installed (apt-get install chromium prometheus)`);

describe('dashboard, generator page, Prometheus', () => {
  // one topology, two indexers, the monitor and the generator for every test of the block
  const pipe = usePipeline();
  let env: Record<string, string>;
  const indexers: IndexerProcess[] = [];
  let monitor: Awaited<ReturnType<typeof startServing>>;
  let generator: Awaited<ReturnType<typeof startServing>>;

  before(async () => {
    fs.mkdirSync(OUT, { recursive: true });
    env = pipe.topology(pipe.block, 'ops').env;
    await bootstrap(env);
    for (let i = 0; i < 2; i++) indexers.push(await pipe.startIndexer(pipe.block, env, ['--prefetch', '20', '--batch-size', '20']));
    monitor = await pipe.startServing(
      pipe.block,
      ['monitor', '--targets', indexers.map((p) => p.url).join(','), '--port', '0', '--scrape-interval', '500ms'],
      env,
    );
    generator = await pipe.startServing(pipe.block, ['generate', '--serve', '--port', '0'], env);
  });

  describe('in headless Chromium', { skip: missing('chromium', Boolean(CHROMIUM)) }, () => {
    let browser: Browser;
    before(async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
    });
    after(async () => browser?.close());

    it('the dashboard loads and shows live numbers', async () => {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(monitor.url);
      await page.waitForSelector('#instances tbody tr:nth-child(2)', { timeout: 20_000 });
      assert.equal(await page.textContent('#queue-consumers'), '2');
      // traffic while the page is open: the numbers move
      const trickle = startCli(['ship'], { env });
      const feeder = setInterval(() => trickle.child.stdin!.write(numberedLines(50)), 100);
      try {
        await page.waitForFunction(() => Number(document.querySelector('#events-out')?.textContent?.replace('k', '')) > 0, null, { timeout: 30_000 });
      } finally {
        clearInterval(feeder);
        trickle.child.stdin!.end();
        assert.equal((await trickle.exited).code, 0, trickle.stderr());
      }
      await page.waitForFunction(() => [...document.querySelectorAll('#distribution .share')].every((e) => !e.textContent!.startsWith('0.0%')), null, {
        timeout: 20_000,
      });
      const rows = await page.$$eval('#instances tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-instance')));
      assert.deepEqual(rows.sort(), indexers.map((p) => new URL(p.url).host).sort());
      assert.equal(await page.textContent('#cluster-status'), 'ok');
      await page.waitForFunction(() => document.querySelectorAll('#rate-chart polyline').length === 2, null, { timeout: 10_000 });
      const drawn = await page.$$eval('#rate-chart polyline, #queue-chart polyline', (ls) =>
        ls.map((l) => l instanceof SVGPolylineElement && (l as SVGPolylineElement).getBBox().width > 0),
      );
      assert.ok(drawn.length >= 3 && drawn.every(Boolean), `charts drawn as SVG: ${JSON.stringify(drawn)}`);
      await page.screenshot({ path: path.join(OUT, 'dashboard.png'), fullPage: true });
      assert.deepEqual(errors, []);
      await page.close();
    });

    it('the generator page publishes through its form and shows the published total', async () => {
      const page = await browser.newPage();
      await page.goto(generator.url);
      await page.fill('#count', '25');
      await page.selectOption('#level', 'error');
      await page.click('#submit');
      await page.waitForFunction(() => document.querySelector('#result')?.textContent?.startsWith('published'), null, { timeout: 20_000 });
      assert.equal(await page.textContent('#result'), 'published 25 of 25 events');
      await page.waitForFunction(() => Number(document.querySelector('#published')?.textContent) >= 25, null, { timeout: 10_000 });
      await page.screenshot({ path: path.join(OUT, 'generator.png'), fullPage: true });
      await page.close();
    });
  });

  describe('with Prometheus', { skip: missing('prometheus and promtool', has('prometheus') && has('promtool')) }, () => {
    it('promtool check metrics passes on every /metrics', async () => {
      const urls = [...indexers.map((p) => p.url), monitor.url, generator.url];
      for (const url of urls) {
        const body = await (await fetch(`${url}/metrics`)).text();
        const r = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
        assert.equal(r.status, 0, `${url}/metrics: ${r.stdout}${r.stderr}`);
      }
    });

    it('the alert rules pass promtool check rules and promtool test rules (each alert fires)', () => {
      const dir = path.join(ROOT, 'docker', 'prometheus');
      const check = spawnSync('promtool', ['check', 'rules', 'alerts.yml'], { cwd: dir, encoding: 'utf8' });
      assert.equal(check.status, 0, check.stdout + check.stderr);
      assert.match(check.stdout, /SUCCESS: 5 rules found/);
      const test = spawnSync('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: dir, encoding: 'utf8' });
      assert.equal(test.status, 0, test.stdout + test.stderr);
      const tests = fs.readFileSync(path.join(dir, 'alerts.test.yml'), 'utf8');
      for (const alert of ['LogshipInstanceDown', 'LogshipQueueBacklog', 'LogshipMemoryHigh', 'LogshipLoadImbalance', 'LogshipDeadLetters']) {
        assert.match(tests, new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels`), `${alert} has a firing test`);
      }
    });

    it('a real Prometheus scrapes the monitor and the indexers; its query API returns per-instance series', async (t) => {
      const dir = pipe.tmpDir(t, 'prom');
      const port = await freePort();
      const hostOf = (u: string) => new URL(u).host;
      fs.writeFileSync(
        path.join(dir, 'prometheus.yml'),
        [
          'global: { scrape_interval: 1s, evaluation_interval: 1s }',
          'scrape_configs:',
          '  - job_name: logship',
          '    honor_labels: true',
          `    static_configs: [ { targets: ["${hostOf(monitor.url)}"] } ]`,
          '  - job_name: indexers',
          `    static_configs: [ { targets: [${indexers.map((p) => `"${hostOf(p.url)}"`).join(', ')}] } ]`,
          '',
        ].join('\n'),
      );
      const prom: ChildProcess = spawn(
        'prometheus',
        [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let log = '';
      prom.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      const query = async (q: string) => {
        const r = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
        const body = (await r.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
        return body.data.result;
      };
      try {
        assert.equal((await ship(env, numberedLines(200))).code, 0);
        const viaMonitor = await waitFor(
          'per-instance series through the monitor',
          async () => {
            const r = await query('logship_indexer_events_in_total{job="logship"}').catch(() => []);
            return r.length === 2 ? r : undefined;
          },
          60_000,
          500,
        );
        assert.deepEqual(viaMonitor.map((s) => s.metric.instance).sort(), indexers.map((p) => hostOf(p.url)).sort());
        const up = await query('up{job="logship"}');
        const upInstances = up.map((s) => s.metric.instance).sort();
        assert.ok(
          indexers.every((p) => upInstances.includes(hostOf(p.url))),
          `up per indexer through the monitor: ${upInstances.join(', ')}`,
        );
        const direct = await waitFor(
          'direct indexer scrapes',
          async () => {
            const r = await query('up{job="indexers"} == 1').catch(() => []);
            return r.length === 2 ? r : undefined;
          },
          30_000,
          500,
        );
        assert.equal(direct.length, 2);
        const queue = await waitFor(
          'queue figures',
          async () => {
            const r = await query('logship_queue_consumers').catch(() => []);
            return r.length === 1 ? r : undefined;
          },
          30_000,
          500,
        );
        assert.equal(queue[0]!.value[1], '2');
      } finally {
        prom.kill('SIGTERM');
        await new Promise((r) => prom.once('exit', r));
        if (process.exitCode) process.stderr.write(log.slice(-2000));
      }
    });
  });
});
