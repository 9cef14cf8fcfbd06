/**
 * Baseline for "ship": raw amqplib publishing the same JSON events, persistent,
 * on a confirm channel with a window of 1000. Reads lines from stdin.
 * Prints {"events":N,"seconds":S} when every publish is confirmed.
 *
 * By default each message is what DESIGN.md's wire format asks for, the same
 * broker work logship does: mandatory, and the properties timestamp, app_id,
 * content_encoding besides content_type and message_id. With --bare those are
 * left out, which the broker handles markedly faster with persistent messages
 * (the bench reports that run too, for reference).
 */
import { createHash, randomUUID } from 'node:crypto';
import os from 'node:os';
import readline from 'node:readline';
import amqp from 'amqplib';

const args = process.argv.slice(2);
const bare = args.includes('--bare');
const [url, exchange, routingKey] = args.filter((a) => a !== '--bare');
const started = process.hrtime.bigint();
const conn = await amqp.connect(url);
const ch = await conn.createConfirmChannel();
const WINDOW = 1000;
let inflight = 0;
let sent = 0;
let wake = null;
const host = os.hostname();
const run = randomUUID();
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  const id = createHash('sha256').update(`${host}\0${run}\0${sent}\0`).digest('hex').slice(0, 32);
  const body = JSON.stringify({
    '@timestamp': new Date().toISOString(),
    message: line,
    event: { id },
    host: { name: host },
    input: { type: 'stdin' },
    agent: { type: 'logship', version: '0.1.0' },
    tags: [],
    labels: {},
  });
  const properties = bare
    ? { persistent: true, contentType: 'application/json', messageId: id }
    : {
        persistent: true,
        mandatory: true,
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        messageId: id,
        timestamp: Math.floor(Date.now() / 1000),
        appId: 'logship',
      };
  while (inflight >= WINDOW) await new Promise((r) => (wake = r));
  inflight++;
  sent++;
  ch.publish(exchange, routingKey, Buffer.from(body), properties, (err) => {
    if (err) throw err;
    inflight--;
    const w = wake;
    wake = null;
    w?.();
  });
}
await ch.waitForConfirms();
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
await conn.close();
process.stdout.write(`${JSON.stringify({ events: sent, seconds })}\n`);
