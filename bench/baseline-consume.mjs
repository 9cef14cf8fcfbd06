/**
 * Baseline for "index": raw amqplib consuming N messages with prefetch 1000
 * and acks with `multiple`, doing nothing else. Prints {"events":N,"seconds":S}.
 */
import amqp from 'amqplib';

const [url, queue, countText] = process.argv.slice(2);
const count = Number(countText);
const started = process.hrtime.bigint();
const conn = await amqp.connect(url);
const ch = await conn.createChannel();
await ch.prefetch(1000);
let got = 0;
await new Promise((resolve) => {
  void ch.consume(queue, (msg) => {
    // anything past the messages asked for stays unacked: back to the queue at close
    if (!msg || got >= count) return;
    got++;
    if (got % 500 === 0 || got === count) ch.ack(msg, true);
    if (got === count) resolve();
  });
});
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
// the channel first: its close follows the last ack on the channel, where a connection close may overtake it (the ack lost, the messages redelivered)
await ch.close();
await conn.close();
process.stdout.write(`${JSON.stringify({ events: got, seconds })}\n`);
