/**
 * The fault matrix: one corpus, one run per scenario, a printed table per run.
 * Every row must end with lost = 0 and duplicated = 0 in Elasticsearch.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { Scenario, corpus, formatTable, rows } from '../helpers/matrix.js';
import { stopProcess } from '../helpers/pipeline.js';
import { PrivateRabbit, rabbitAvailable } from '../helpers/rabbit-node.js';
import { usePipeline } from '../helpers/use-pipeline.js';
import { sleep, waitFor } from '../helpers/wait.js';

const FAULTS = process.env.LOGSHIP_TEST_ES_NODE ? 'fault injection needs the Elasticsearch double' : false;

describe('fault matrix', { skip: FAULTS }, () => {
  const pipe = usePipeline();
  const es = pipe.es;
  after(() => {
    if (rows.length > 0) process.stdout.write(`\nfault matrix\n${formatTable(rows)}\n`);
  });

  it('1. kill -9 of an indexer mid-batch, three times during 100k events, replacements started', async (t) => {
    const s = new Scenario('kill -9 indexer x3', pipe, t);
    await s.bootstrap();
    await s.startIndexer(['--batch-size', '500']);
    await s.startIndexer(['--batch-size', '500']);
    const lines = corpus(100_000);
    const shipper = s.startShipper([], lines);
    for (const threshold of [15_000, 40_000, 65_000]) {
      await s.waitIndexed(threshold);
      const victim = s.indexers.find((p) => p.child.exitCode === null && p.child.signalCode === null)!;
      victim.child.kill('SIGKILL');
      await victim.exited;
      await s.startIndexer(['--batch-size', '500']);
    }
    const shipped = await shipper.exited;
    assert.equal(shipped.code, 0, shipped.stderr);
    await s.waitIndexed(lines.length, 180_000);
    await s.waitSettled();
    await s.verify(lines);
  });

  it('2. broker restart (private node) while shipping, and again while indexing', {
    skip: !rabbitAvailable() && 'rabbitmq-server not installed',
  }, async (t) => {
    const rabbit = new PrivateRabbit();
    pipe.defer(t, () => rabbit.destroy());
    await rabbit.start();
    const s = new Scenario('broker restart x2', pipe, t, rabbit.url);
    await s.bootstrap();
    const lines = corpus(20_000);
    // while shipping: the indexer is off, so the restart hits the shipper's confirm window
    const shipper = s.startShipper(['--max-inflight', '200'], lines);
    await waitFor('shipping under way', async () => (await s.queueReady(rabbit.url)) > 3_000, 60_000, 50);
    await rabbit.restart();
    const shipped = await shipper.exited;
    assert.equal(shipped.code, 0, shipped.stderr);
    // while indexing: a slow Elasticsearch keeps a backlog and unacked deliveries
    es.double?.setFaults({ latencyMs: 100 });
    await s.startIndexer(['--batch-size', '200', '--prefetch', '400']);
    await s.waitIndexed(3_000);
    await rabbit.restart();
    es.double?.setFaults({ latencyMs: 0 });
    await s.waitIndexed(lines.length);
    await s.waitSettled();
    await s.verify(lines);
  });

  it('3. Elasticsearch down (503, then refused connections) for 10 s mid-run', async (t) => {
    const s = new Scenario('elasticsearch down 10s', pipe, t);
    await s.bootstrap();
    await s.startIndexer();
    await s.startIndexer();
    const lines = corpus(20_000);
    const shipper = s.startShipper([], lines);
    await s.waitIndexed(3_000);
    es.double!.setFaults({ down: '503' });
    await sleep(5_000);
    es.double!.setFaults({ down: 'refuse' });
    await sleep(5_000);
    es.double!.clearFaults();
    assert.equal((await shipper.exited).code, 0);
    await s.waitIndexed(lines.length);
    await s.waitSettled();
    await s.verify(lines);
  });

  it('4. 10 % of bulk items answered 429', async (t) => {
    const s = new Scenario('10% items 429', pipe, t);
    await s.bootstrap();
    es.double!.setFaults({ itemRate429: 0.1 });
    await s.startIndexer();
    await s.startIndexer();
    const lines = corpus(20_000);
    const r = await runCli(['ship'], { env: s.env, input: `${lines.join('\n')}\n` });
    assert.equal(r.code, 0, r.stderr);
    await s.waitIndexed(lines.length);
    await s.waitSettled();
    await s.verify(lines);
    assert.ok(es.double!.itemsWithStatus(s.n.indexWildcard, 429) > 1_000, 'the fault was active');
  });

  it('5. 1 % of events rejected with 400: exactly those dead-lettered, then dlq replay indexes them', async (t) => {
    const s = new Scenario('1% rejected 400 + replay', pipe, t);
    await s.bootstrap();
    es.double!.setFaults({ reject: (src) => String(src.message).endsWith(' BADFIELD') });
    await s.startIndexer();
    const lines = corpus(20_000, (i) => (i % 100 === 7 ? ' BADFIELD' : ''));
    const bad = lines.filter((l) => l.endsWith(' BADFIELD'));
    const r = await runCli(['ship'], { env: s.env, input: `${lines.join('\n')}\n` });
    assert.equal(r.code, 0, r.stderr);
    await s.waitIndexed(lines.length - bad.length);
    await waitFor('dead letters', async () => (await s.deadLetters()) === bad.length, 60_000);
    const list = await runCli(['dlq', 'list', '--limit', '5', '--json'], { env: s.env });
    assert.equal(list.code, 0, list.stderr);
    const listed = JSON.parse(list.stdout) as { total: number; letters: Array<{ type: string; status: number; reason: string; preview: string }> };
    assert.equal(listed.total, bad.length);
    assert.equal(listed.letters.length, 5);
    assert.equal(listed.letters[0]!.type, 'document_parsing_exception');
    assert.equal(listed.letters[0]!.status, 400);
    assert.match(listed.letters[0]!.preview, /BADFIELD/);
    assert.equal(await s.deadLetters(), bad.length, 'list removes nothing');
    const table = await runCli(['dlq', 'list'], { env: s.env });
    assert.match(table.stdout, /document_parsing_exception/);

    es.double!.clearFaults();
    const replay = await runCli(['dlq', 'replay'], { env: s.env });
    assert.equal(replay.code, 0, replay.stderr);
    assert.match(replay.stdout, new RegExp(`replayed ${bad.length} message\\(s\\)`));
    await s.waitIndexed(lines.length);
    await s.waitSettled();
    await s.verify(lines, 0, bad.length);
  });

  it('6. SIGTERM of every process mid-run, then restart: exactly once', async (t) => {
    const dir = pipe.tmpDir(t, 'matrix');
    const s = new Scenario('SIGTERM all + restart', pipe, t, undefined, { LOGSHIP_STATE_DIR: path.join(dir, 'state') });
    await s.bootstrap();
    const lines = corpus(30_000);
    const file = path.join(dir, 'app.log');
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    es.double!.setFaults({ latencyMs: 30 });
    await s.startIndexer(['--batch-size', '200']);
    await s.startIndexer(['--batch-size', '200']);
    const shipper = s.startShipper([file, '--max-inflight', '100']);
    await s.waitIndexed(4_000);
    shipper.child.kill('SIGTERM');
    for (const p of s.indexers) p.child.kill('SIGTERM');
    const results = await Promise.all([shipper.exited, ...s.indexers.map((p) => p.exited)]);
    for (const r of results) assert.equal(r.code, 0, `graceful exit: ${r.stderr.slice(-500)}`);
    assert.ok((await s.indexed()) < lines.length, 'stopped mid-run');
    es.double!.clearFaults();
    s.indexers.length = 0;
    await s.startIndexer();
    await s.startIndexer();
    const again = await runCli(['ship', file], { env: s.env });
    assert.equal(again.code, 0, again.stderr);
    await s.waitIndexed(lines.length);
    await s.waitSettled();
    await s.verify(lines);
  });

  it('7. bad input on stdin: invalid UTF-8, a 10 MB line, NUL bytes, CRLF, empty lines, malformed JSON: each accounted for', async (t) => {
    const s = new Scenario('bad input', pipe, t);
    await s.bootstrap();
    const p = await s.startIndexer();
    const good = corpus(1_000);
    const input = Buffer.concat([
      Buffer.from(`${good.slice(0, 500).join('\n')}\n`),
      Buffer.from([0xc3, 0x28, 0x20, 0x62, 0x61, 0x64, 0x0a]), // invalid UTF-8 then " bad"
      Buffer.alloc(10 * 1024 * 1024, 'q'),
      Buffer.from('\nnul\u0000inside\r\n\n\n\r\n'),
      Buffer.from(`${good.slice(500).join('\r\n')}\r\n`),
    ]);
    const r = await runCli(['ship'], { env: s.env, input });
    assert.equal(r.code, 0, r.stderr);
    // 1000 good + invalid UTF-8 + 10 MB + NUL line = 1003 events; 3 empty lines skipped
    assert.match(r.stderr, /read 1006, published 1003, skipped 3, failed 0 \(truncated 1,/);
    const j = await runCli(['ship', '--codec', 'json'], { env: s.env, input: '{"message":"json ok"}\n{"message": oops\n\n' });
    assert.equal(j.code, 0, j.stderr);
    assert.match(j.stderr, /read 3, published 2, skipped 1, failed 0 .*json failures 1/);
    await s.waitIndexed(1005);
    await s.waitSettled();
    const docs = (await s.es.all(s.n.indexWildcard)).map((d) => d.source as { message: string; tags: string[] });
    const by = (pred: (m: string) => boolean) => docs.filter((d) => pred(d.message));
    assert.equal(by((m) => m === '\uFFFD( bad').length, 1);
    assert.deepEqual(by((m) => m.startsWith('qqqq'))[0]!.tags, ['_truncated']);
    assert.equal(by((m) => m.startsWith('qqqq'))[0]!.message.length, 1024 * 1024);
    assert.equal(by((m) => m === 'nul\u0000inside').length, 1);
    assert.deepEqual(by((m) => m === '{"message": oops')[0]!.tags, ['_jsonparsefailure']);
    assert.equal(by((m) => m === 'json ok').length, 1);
    await s.verify([...good, '\uFFFD( bad', 'nul\u0000inside', 'json ok', '{"message": oops']);
    assert.equal((await stopProcess(p)).code, 0);
  });

  it('8. kill -9 of one of three indexers under 10 % item 429s and 1 % rejects: each rejected event dead-lettered exactly once', async (t) => {
    const s = new Scenario('kill -9 + 429s + rejects', pipe, t);
    await s.bootstrap();
    es.double!.setFaults({ itemRate429: 0.1, reject: (src) => String(src.message).endsWith(' BADFIELD') });
    for (let i = 0; i < 3; i++) await s.startIndexer();
    const lines = corpus(20_000, (i) => (i % 100 === 7 ? ' BADFIELD' : ''));
    const bad = lines.filter((l) => l.endsWith(' BADFIELD'));
    const shipper = s.startShipper([], lines);
    await s.waitIndexed(6_000);
    // mid-run, at a moment no dead letter is on its way: Elasticsearch holds every
    // bulk for 4 s, and no bulk was answered for 1.5 s, so each dead letter of an
    // answered bulk is confirmed by now. The indexers still hold deliveries
    // settled behind retried ones: those must be acked already, or the kill
    // redelivers them and their events are dead-lettered again.
    es.double!.setFaults({ latencyMs: 4_000 });
    await waitFor('bulks held, none answered for 1.5 s', () => es.double!.held > 0 && Date.now() - es.double!.bulkAnsweredAt > 1_500, 30_000, 20);
    assert.ok((await s.deadLetters()) > 0, 'dead letters were published before the kill');
    const victim = s.indexers[0]!;
    victim.child.kill('SIGKILL');
    await victim.exited;
    es.double!.setFaults({ latencyMs: 0 });
    await s.startIndexer();
    const shipped = await shipper.exited;
    assert.equal(shipped.code, 0, shipped.stderr);
    await s.waitIndexed(lines.length - bad.length);
    await s.waitSettled();
    const letters = await s.deadLetterEvents();
    const ids = new Set(letters.map((l) => l.eventId));
    assert.equal(letters.length, bad.length, `${letters.length} dead letters for ${bad.length} rejected events (${letters.length - ids.size} repeated)`);
    assert.equal(ids.size, bad.length, 'one dead letter per event id');
    assert.deepEqual(letters.map((l) => l.message).sort(), [...bad].sort());
    await s.verify(lines, bad.length);
    assert.ok(es.double!.itemsWithStatus(s.n.indexWildcard, 429) > 1_000, 'the 429 fault was active');
  });
});
