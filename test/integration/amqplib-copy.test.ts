/**
 * The shipper's encoder reuses a body's slab once its message is settled, and
 * a nack retry copies the body out and releases the slab at once
 * (message-encoder.ts, publisher.ts). That is safe only because amqplib copies
 * a body into its own frames inside publish(): the publisher's unit tests use a
 * fake channel, so this test holds the real amqplib to it, on the real broker.
 * Bodies written into one buffer are overwritten as soon as publish() returns;
 * the broker must still store what was published. Three sizes take amqplib's
 * three paths: a small body (one buffer with the method and header frames), a
 * body in one frame of its own, and one split across frames (frame max 128 KiB).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import amqp from 'amqplib';
import { AMQP_URL, drainQueue } from '../helpers/amqp.js';

describe('amqplib and reused slabs', () => {
  it('a slab overwritten as soon as publish() returns does not change what the broker stores (amqplib copied the body)', async () => {
    const queue = `amqplib-copy-${randomBytes(5).toString('hex')}`;
    const conn = await amqp.connect(AMQP_URL);
    try {
      const ch = await conn.createConfirmChannel();
      await ch.assertQueue(queue, { durable: false });
      const sizes = [100, 50_000, 300_000];
      const slab = Buffer.alloc(sizes.reduce((a, b) => a + b));
      const published: string[] = [];
      const confirms: Array<Promise<void>> = [];
      let at = 0;
      for (const [i, size] of sizes.entries()) {
        const body = slab.subarray(at, at + size).fill(0x61 + i);
        at += size;
        published.push(body.toString());
        confirms.push(new Promise((resolve, reject) => ch.publish('', queue, body, {}, (err) => (err ? reject(err) : resolve()))));
        body.fill(0x78); // the encoder reused the slab
      }
      await Promise.all(confirms);
      const stored = (await drainQueue(queue)).map((m) => m.content.toString());
      assert.equal(stored.length, sizes.length);
      for (const [i, s] of stored.entries()) assert.ok(s === published[i], `body ${i} (${sizes[i]} bytes) is what was published`);
      await ch.deleteQueue(queue);
    } finally {
      await conn.close().catch(() => undefined);
    }
  });
});
