#!/usr/bin/env node
// The demo: bootstrap, two indexers, a generated sample shipped, on local
// defaults. Elasticsearch when LOGSHIP_ES_NODE (default http://127.0.0.1:9200)
// answers, NDJSON files under .demo/ otherwise.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const bin = path.join(root, 'node_modules/.bin/logship');
const esNode = process.env.LOGSHIP_ES_NODE ?? 'http://127.0.0.1:9200';
const count = Number(process.env.DEMO_EVENTS ?? 5000);
const demoDir = path.join(root, '.demo');

function run(args, input) {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'inherit', 'inherit'] });
    child.stdin.end(input ?? '');
    child.on('close', (code) => resolve(code));
  });
}

function sampleLines(n) {
  const levels = ['INFO', 'INFO', 'INFO', 'WARN', 'ERROR', 'DEBUG'];
  const paths = ['/api/orders', '/api/users', '/health', '/login', '/static/app.js'];
  let out = '';
  const start = Date.now() - n * 10;
  for (let i = 0; i < n; i++) {
    const ts = new Date(start + i * 10).toISOString();
    const lvl = levels[i % levels.length];
    const p = paths[i % paths.length];
    out += `${ts} ${lvl} [demo-${i % 4}] request ${i} GET ${p} status=${lvl === 'ERROR' ? 500 : 200} duration_ms=${(i * 7) % 300}\n`;
  }
  return out;
}

async function esAnswers() {
  try {
    const res = await fetch(esNode, { signal: AbortSignal.timeout(2000) });
    return res.headers.get('x-elastic-product') === 'Elasticsearch';
  } catch {
    return false;
  }
}

async function metric(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ').pop()) : 0;
}

const useEs = await esAnswers();
fs.mkdirSync(demoDir, { recursive: true });
console.log(
  `demo: RabbitMQ ${process.env.LOGSHIP_AMQP_URL ?? 'amqp://guest:***@127.0.0.1:5672/%2f'}; output: ${useEs ? `Elasticsearch ${esNode}` : `NDJSON files in ${demoDir} (no Elasticsearch at ${esNode})`}`,
);

const bootArgs = ['bootstrap', ...(useEs ? [] : ['--skip-elasticsearch'])];
if ((await run(bootArgs)) !== 0) process.exit(1);

const indexers = [1, 2].map((i) => {
  const output = useEs ? 'elasticsearch' : `file:${path.join(demoDir, `indexer-${i}.ndjson`)}`;
  const child = spawn(bin, ['index', '--metrics-port', '0', '--output', output, '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const url = new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => {
      log += d;
      const m = /"url":"(http:\/\/[^"]+)","metrics"/.exec(log);
      if (m) resolve(m[1]);
    });
    child.on('close', (code) => reject(new Error(`indexer ${i} exited ${code}:\n${log}`)));
  });
  return { i, child, url, output };
});
const urls = await Promise.all(indexers.map((x) => x.url));
console.log(`demo: 2 indexers running, metrics at ${urls.map((u) => `${u}/metrics`).join(' and ')}`);

const before = await Promise.all(urls.map((u) => metric(u, 'logship_indexer_events_indexed_total')));
console.log(`demo: shipping ${count} generated lines`);
if ((await run(['ship'], sampleLines(count))) !== 0) process.exit(1);

const deadline = Date.now() + 60_000;
let per = [];
for (;;) {
  per = await Promise.all(
    urls.map(async (u) => (await metric(u, 'logship_indexer_events_indexed_total')) + (await metric(u, 'logship_indexer_events_duplicate_total'))),
  );
  if (per.reduce((a, b) => a + b, 0) - before.reduce((a, b) => a + b, 0) >= count) break;
  if (Date.now() > deadline) {
    console.error('demo: timed out waiting for the indexers');
    break;
  }
  await new Promise((r) => setTimeout(r, 200));
}
console.log(`demo: indexed per indexer: ${per.map((v, k) => `#${k + 1} ${v}`).join(', ')}`);
for (const x of indexers) x.child.kill('SIGTERM');
await Promise.all(indexers.map((x) => new Promise((r) => (x.child.exitCode !== null ? r() : x.child.on('exit', r)))));
if (!useEs) console.log(`demo: events are in ${indexers.map((x) => x.output.slice(5)).join(' and ')}`);
console.log('demo: done');
