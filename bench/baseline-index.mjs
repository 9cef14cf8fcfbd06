/**
 * Baseline for "index": the simplest correct indexer. Consumes with prefetch
 * 1000; collects events into batches of 500 (or what 50 ms brought); sends
 * each batch as one `_bulk` of `create` actions with `_id` = event.id, one
 * request in flight; acks the batch's messages (ack `multiple`) only after
 * Elasticsearch answered and every item was created (201) or already there
 * (409). Each event is parsed with JSON.parse for its id and @timestamp (the
 * daily index). Anything else is a failure: it exits 1 rather than lose an
 * event (retrying and dead-lettering are what it leaves out).
 * Runs until `count` events are acked, then prints {"events":N,"seconds":S}.
 *
 *   node bench/baseline-index.mjs AMQP_URL QUEUE COUNT ES_URL INDEX_PREFIX
 */
import http from 'node:http';
import amqp from 'amqplib';

const [url, queue, countText, esUrl, prefix] = process.argv.slice(2);
const count = Number(countText);
const BATCH = 500;
const LINGER_MS = 50;
const started = process.hrtime.bigint();
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const conn = await amqp.connect(url);
const ch = await conn.createChannel();
await ch.prefetch(1000);

let lines = [];
let events = 0;
let lastMsg = null;
let timer = null;
let inflight = false;
let acked = 0;
let received = 0;
let finish;
const finished = new Promise((r) => (finish = r));

function post(body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${esUrl}/_bulk`,
      { method: 'POST', agent, headers: { 'content-type': 'application/x-ndjson', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () =>
          res.statusCode === 200 ? resolve(JSON.parse(text)) : reject(new Error(`_bulk answered ${res.statusCode}: ${text.slice(0, 200)}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function flush() {
  if (timer) clearTimeout(timer);
  timer = null;
  if (inflight || events === 0 || acked >= count) return;
  inflight = true;
  const body = lines.join('');
  const n = events;
  const last = lastMsg;
  lines = [];
  events = 0;
  lastMsg = null;
  try {
    const answer = await post(body);
    if (answer.errors) {
      for (const item of answer.items) {
        const s = item.create.status;
        if (s !== 201 && s !== 409) throw new Error(`an item failed: ${JSON.stringify(item.create).slice(0, 300)}`);
      }
    }
  } catch (err) {
    process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  }
  ch.ack(last, true);
  acked += n;
  inflight = false;
  if (acked >= count) {
    if (timer) clearTimeout(timer);
    finish();
  } else if (events >= BATCH) void flush();
  else if (events > 0 && !timer) timer = setTimeout(flush, LINGER_MS);
}

function add(line) {
  const ev = JSON.parse(line);
  const index = `${prefix}-${ev['@timestamp'].slice(0, 10).replaceAll('-', '.')}`;
  lines.push(`${JSON.stringify({ create: { _index: index, _id: ev.event.id } })}\n${line}\n`);
  events++;
  received++;
}

await ch.consume(queue, (msg) => {
  // anything past the events asked for stays unacked: back to the queue at close
  if (!msg || received >= count) return;
  const text = msg.content.toString('utf8');
  if (msg.properties.contentType === 'application/x-ndjson') {
    for (const line of text.split('\n')) if (line !== '') add(line);
  } else add(text);
  lastMsg = msg;
  if (events >= BATCH) void flush();
  else if (!timer) timer = setTimeout(flush, LINGER_MS);
});
await finished;
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
// the channel first: its close follows the last ack on the channel, where a connection close may overtake it (the ack lost, the messages redelivered)
await ch.close();
await conn.close();
agent.destroy();
process.stdout.write(`${JSON.stringify({ events: acked, seconds })}\n`);
