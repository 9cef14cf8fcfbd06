/**
 * The bench's index baselines (bench/baseline-consume.mjs, the raw
 * consume+ack, and bench/baseline-index.mjs, the simplest correct indexer)
 * are yardsticks: each must take exactly the backlog it is given and leave
 * nothing behind. A last ack lost at exit (amqplib may send the connection's
 * close before a channel's last frames) leaves messages that the next run
 * of the bench takes over, already stored or not its own.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { AMQP_URL, type Names, deleteTopology, queueDepth, randomNames, withChannel } from '../helpers/amqp.js';
import { ROOT } from '../helpers/cli.js';
import { startLeanDouble } from '../helpers/es.js';

const EVENTS = 1200;

/** EVENTS messages of one event each, in logship's own format (what the bench fills the queue with) */
async function backlog(queue: string): Promise<void> {
  await withChannel(async (ch) => {
    await ch.assertQueue(queue, { durable: true });
    for (let i = 0; i < EVENTS; i++) {
      const id = i.toString(16).padStart(32, '0');
      const line = JSON.stringify({ '@timestamp': '2026-11-24T10:00:00.000Z', message: `line ${i}`, event: { id } });
      ch.sendToQueue(queue, Buffer.from(line), { persistent: true, contentType: 'application/json', messageId: id });
    }
    await ch.checkQueue(queue);
  });
}

/** runs a baseline to its exit; one still running after 60 s (waiting for events that never come) is killed */
function runBaseline(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bench', script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('the bench baselines take their backlog and leave no message behind', () => {
  // a queue of its own for each test: what one leaves behind must not feed the other
  const made: Names[] = [];
  const fresh = () => {
    const n = randomNames('bench');
    made.push(n);
    return n;
  };
  after(async () => {
    for (const n of made) await deleteTopology(n);
  });

  it('the raw consume+ack baseline acks its last message before it exits', async () => {
    const n = fresh();
    await backlog(n.queue);
    const r = await runBaseline('baseline-consume.mjs', [AMQP_URL, n.queue, String(EVENTS)]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { events: number }).events, EVENTS);
    assert.equal((await queueDepth(n.queue)).messageCount, 0, 'messages were left unacked in the queue');
  });

  it('the simplest correct indexer stores every event and acks its last batch before it exits', async () => {
    const n = fresh();
    const es = await startLeanDouble();
    try {
      await backlog(n.queue);
      const prefix = n.index.replace('-%{+yyyy.MM.dd}', '');
      const r = await runBaseline('baseline-index.mjs', [AMQP_URL, n.queue, String(EVENTS), es.url, prefix]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { events: number }).events, EVENTS);
      assert.equal(es.stored, EVENTS);
      assert.equal((await queueDepth(n.queue)).messageCount, 0, 'messages were left unacked in the queue');
    } finally {
      await es.stop();
    }
  });
});
