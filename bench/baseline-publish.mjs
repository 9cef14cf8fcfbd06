/**
 * Baseline for "ship": raw amqplib publishing the same JSON events, persistent,
 * on a confirm channel with a window of 1000. Reads lines from stdin.
 * Prints {"events":N,"seconds":S} when every publish is confirmed.
 *
 * By default each message is the bare confirmed publish, what the wire format
 * v1 needs (docs/DESIGN.md): persistent, mandatory, content_type, message_id.
 * Options, for measuring what each property costs the broker (alternate runs):
 *   --no-mandatory                       leave mandatory out
 *   --with=timestamp,app_id,content_encoding   add those properties
 *   --previous                           the wire format before v1: all three added
 */
import { createHash, randomUUID } from 'node:crypto';
import os from 'node:os';
import readline from 'node:readline';
import amqp from 'amqplib';

const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith('--'));
const [url, exchange, routingKey] = args.filter((a) => !a.startsWith('--'));
const extra = new Set(flags.flatMap((f) => (f.startsWith('--with=') ? f.slice(7).split(',') : [])));
if (flags.includes('--previous')) for (const p of ['timestamp', 'app_id', 'content_encoding']) extra.add(p);
for (const p of extra) if (!['timestamp', 'app_id', 'content_encoding'].includes(p)) throw new Error(`unknown property ${p}`);
const mandatory = !flags.includes('--no-mandatory');
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
  const properties = { persistent: true, contentType: 'application/json', messageId: id };
  if (mandatory) properties.mandatory = true;
  if (extra.has('content_encoding')) properties.contentEncoding = 'utf-8';
  if (extra.has('timestamp')) properties.timestamp = Math.floor(Date.now() / 1000);
  if (extra.has('app_id')) properties.appId = 'logship';
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
