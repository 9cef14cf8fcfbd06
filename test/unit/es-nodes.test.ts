/**
 * --es-node with several nodes: the client's ClusterConnectionPool skips a dead
 * node (the request moves on at once, later requests never try it) and pings it
 * back to life; each node keeps its own credentials; every URL in a message or
 * in /health is masked; a bad entry of the list is named.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { isLogshipError, loadCommandLine } from '@logship/common';
import type { ClusterConnectionPool } from '@elastic/elasticsearch';
import { createEsClient, esNodeStates, esNodeUrls, logEsNodeChanges } from '@logship/common/elasticsearch';
import type { Document } from '@logship/indexer';
import { ElasticsearchOutput } from '@logship/indexer/elasticsearch';
import { EsDouble } from '../helpers/es-double.js';
import { waitFor } from '../helpers/wait.js';

const SETTINGS = { esUsername: '', esPassword: '', esApiKey: '', esTimeout: 2000 };

function doc(i: number): Document {
  return { id: `node-${i}`, source: `{"message":"m${i}"}`, index: 'nodes-1' };
}

function refusal(fn: () => unknown): Error & { hint?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { hint?: string };
  }
  assert.fail('expected a refusal');
}

/**
 * A port on loopback that never completes a TCP connection, like a host that is down: a Python
 * listener with an accept queue of one that never accepts, filled by connections of its own, so
 * the kernel drops every further SYN (Node accepts every connection it is offered, so it cannot
 * make one). The connection attempt hangs until the client gives up.
 */
async function blackHole(): Promise<{ url: string; stop: () => void }> {
  const script = [
    'import socket, sys',
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)",
    'port = s.getsockname()[1]; held = []',
    'for _ in range(8):',
    '    c = socket.socket(); c.settimeout(0.5)',
    "    try: c.connect(('127.0.0.1', port)); held.append(c)",
    '    except OSError: break',
    "else: sys.exit('the accept queue never filled')",
    'print(port, flush=True)',
    'sys.stdin.read()',
  ].join('\n');
  const child = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').once('data', (d: string) => resolve(d.trim()));
    child.once('exit', (code) => reject(new Error(`the black-hole listener exited ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill() };
}

const hasPython = spawnSync('python3', ['--version']).status === 0;

describe('Elasticsearch node list', () => {
  const doubles: EsDouble[] = [];
  after(async () => {
    for (const d of doubles) await d.stop();
  });

  it('a dead node is skipped: its request moves to the next node at once, and it gets none until it answers a ping', async () => {
    const a = new EsDouble();
    const b = new EsDouble(a); // two nodes of one cluster: one store
    doubles.push(a, b);
    const [urlA, urlB] = [await a.start(), await b.start()];
    const client = createEsClient({ ...SETTINGS, esNode: `${urlA}, ${urlB}` });
    const pool = client.connectionPool as ClusterConnectionPool;
    pool.resurrectTimeout = 3000; // the client's default is 60 s
    const logged: string[] = [];
    const logger = {
      info: (o: { node: string }, msg: string) => logged.push(`info ${o.node} ${msg}`),
      warn: (o: { node: string }, msg: string) => logged.push(`warn ${o.node} ${msg}`),
    };
    logEsNodeChanges(client, logger as unknown as Parameters<typeof logEsNodeChanges>[1]);
    const output = new ElasticsearchOutput(client);
    try {
      let i = 0;
      for (; i < 4; i++) assert.deepEqual(await output.write([doc(i)]), [{ kind: 'ok' }]);
      assert.ok(a.bulks.length > 0 && b.bulks.length > 0, 'round-robin over both nodes');

      const port = Number(new URL(urlA).port);
      await a.stop();
      for (const end = i + 6; i < end; i++) assert.deepEqual(await output.write([doc(i)]), [{ kind: 'ok' }], `write ${i} with node A stopped`);
      assert.deepEqual(esNodeStates(client), [
        { node: `${urlA}/`, alive: false },
        { node: `${urlB}/`, alive: true },
      ]);
      // back on its port but still marked dead: skipped until its resurrection time
      const seen = a.requests;
      await a.start(port);
      for (const end = i + 4; i < end; i++) assert.deepEqual(await output.write([doc(i)]), [{ kind: 'ok' }]);
      assert.equal(a.requests, seen, 'a dead node gets no request before it is pinged');
      // then the pool pings it (HEAD /) and sends it requests again
      await waitFor(
        'node A to be resurrected and written to',
        async () => {
          assert.deepEqual(await output.write([doc(i++)]), [{ kind: 'ok' }]);
          return a.bulks.length > 0 && esNodeStates(client)[0]!.alive;
        },
        15_000,
        200,
      );
      assert.equal(a.docs('nodes-*').length, i, 'every document once, in the shared store');
      assert.deepEqual(
        logged.map((l) => l.split(': ')[0]),
        [`warn ${urlA}/ Elasticsearch node did not answer`, `info ${urlA}/ Elasticsearch node answers again`],
        'one line when the node is skipped, one when it is back',
      );
    } finally {
      await output.close();
    }
  });

  it('a node that never answers the connection (host down) is marked dead: the request moves to the next node once the connect times out, and later requests never try it', {
    skip: hasPython ? false : 'python3 is not installed (it makes the port that never answers)',
  }, async () => {
    const hole = await blackHole();
    const b = new EsDouble();
    doubles.push(b);
    const urlB = await b.start();
    // a connect that never completes is a connection error (undici's 10 s connect timeout), which moves the request
    // to the next node; a request timeout (--es-timeout) would not: Elasticsearch may still be working on it
    const client = createEsClient({ ...SETTINGS, esNode: `${hole.url}, ${urlB}` });
    const logged: string[] = [];
    const logger = { info: (o: { node: string }) => logged.push(`info ${o.node}`), warn: (o: { node: string }) => logged.push(`warn ${o.node}`) };
    logEsNodeChanges(client, logger as unknown as Parameters<typeof logEsNodeChanges>[1]);
    const output = new ElasticsearchOutput(client);
    try {
      for (let i = 0; i < 4; i++) assert.deepEqual(await output.write([doc(200 + i)]), [{ kind: 'ok' }], `write ${i}`);
      assert.equal(b.docs('nodes-*').length, 4, 'every document stored once, by the node that answers');
      assert.deepEqual(esNodeStates(client), [
        { node: `${hole.url}/`, alive: false },
        { node: `${urlB}/`, alive: true },
      ]);
      assert.deepEqual(logged, [`warn ${hole.url}/`]);
    } finally {
      await output.close();
      hole.stop();
    }
  });

  it('a node whose answer stalls after its headers is marked dead: the bulk moves to the next node at once (409 for what the stalled node wrote), no retry left to the caller', async () => {
    const a = new EsDouble();
    const b = new EsDouble(a); // one cluster, one store
    doubles.push(a, b);
    const [urlA, urlB] = [await a.start(), await b.start()];
    a.setFaults({ stallBody: true });
    const client = createEsClient({ ...SETTINGS, esNode: `${urlA}, ${urlB}`, esTimeout: 500 });
    const output = new ElasticsearchOutput(client);
    try {
      const kinds: string[] = [];
      for (let i = 100; i < 104; i++) kinds.push(...(await output.write([doc(i)])).map((o) => o.kind));
      assert.ok(a.stalledAnswers >= 1, 'node A took a bulk and stalled its answer');
      // the stalled bulk was written by A, so B answers 409 for it: settled, never a retry
      assert.ok(
        kinds.every((k) => k === 'ok' || k === 'duplicate'),
        kinds.join(),
      );
      assert.ok(kinds.includes('duplicate'), kinds.join());
      assert.deepEqual(esNodeStates(client), [
        { node: `${urlA}/`, alive: false },
        { node: `${urlB}/`, alive: true },
      ]);
      assert.equal(a.docs('nodes-*').filter((d) => d.id?.startsWith('node-10')).length, 4, 'every document once');
    } finally {
      await output.close();
    }
  });

  it('each node logs in with the credentials of its own URL; /health names them masked', async () => {
    const a = new EsDouble();
    const b = new EsDouble(a);
    doubles.push(a, b);
    const [urlA, urlB] = [await a.start(), await b.start()];
    a.requiredAuthorization = `Basic ${Buffer.from('node-a:pa55-a').toString('base64')}`;
    b.requiredAuthorization = `Basic ${Buffer.from('node-b:pa55,b').toString('base64')}`;
    const withCredentials = (url: string, user: string, pass: string) => url.replace('http://', `http://${user}:${pass}@`);
    // a comma inside a password does not split the list (only a comma before a scheme does)
    const esNode = `${withCredentials(urlA, 'node-a', 'pa55-a')},${withCredentials(urlB, 'node-b', 'pa55,b')}`;
    assert.equal(esNodeUrls(esNode).length, 2);
    const client = createEsClient({ ...SETTINGS, esNode });
    try {
      for (let i = 0; i < 4; i++) await client.info();
      assert.ok(a.requests >= 2 && b.requests >= 2);
      const states = JSON.stringify(esNodeStates(client));
      assert.doesNotMatch(states, /pa55/);
      assert.deepEqual(
        esNodeStates(client).map((s) => s.node),
        [`${urlA}/`, `${urlB}/`],
      );
    } finally {
      await client.close();
    }
  });

  it('a bulk holding an event without an id is never resent by the client to another node (Elasticsearch would store it twice)', async () => {
    const a = new EsDouble();
    const b = new EsDouble(a);
    doubles.push(a, b);
    const client = createEsClient({ ...SETTINGS, esNode: `${await a.start()},${await b.start()}` });
    const output = new ElasticsearchOutput(client);
    try {
      a.setFaults({ down: '503' });
      b.setFaults({ down: '503' });
      const [outcome] = await output.write([{ id: undefined, source: '{"message":"no id"}', index: 'nodes-1' }]);
      assert.equal(outcome!.kind, 'retry', 'left to the outcome table');
      assert.equal(a.requests + b.requests, 1, 'one request, not one per node');
      // with an id the same failure moves to the next node
      const before = a.requests + b.requests;
      await output.write([doc(99)]);
      assert.equal(a.requests + b.requests - before, 2);
    } finally {
      await output.close();
    }
  });

  it('a single node keeps the old behaviour: no retry by the client, the caller retries', async () => {
    const a = new EsDouble();
    doubles.push(a);
    const client = createEsClient({ ...SETTINGS, esNode: await a.start() });
    const output = new ElasticsearchOutput(client);
    try {
      a.setFaults({ down: '503' });
      const [outcome] = await output.write([doc(0)]);
      assert.equal(outcome!.kind, 'retry');
      assert.equal(a.requests, 1);
    } finally {
      await output.close();
    }
  });

  it('every entry of the list is checked; a bad one is named by position, masked', () => {
    const ok = loadCommandLine('index', ['--es-node', 'http://es1:9200,https://u:p@es2:9200']).config;
    assert.deepEqual(esNodeUrls(ok.esNode), ['http://es1:9200', 'https://u:p@es2:9200']);
    const bad = refusal(() => loadCommandLine('index', ['--es-node', 'http://es1:9200,ftp://elastic:hunter22@es2:9200']));
    assert.ok(isLogshipError(bad));
    assert.match(bad.message, /--es-node \(LOGSHIP_ES_NODE\): node 2 of 2 \(ftp:\/\/elastic:\*\*\*@es2:9200\S*\) must be an http:\/\/ or https:\/\/ URL/);
    assert.doesNotMatch(`${bad.message} ${bad.hint}`, /hunter22/);
    const twice = refusal(() => loadCommandLine('bootstrap', [], { LOGSHIP_ES_NODE: 'http://es1:9200,http://es1:9200' }));
    assert.match(twice.message, /LOGSHIP_ES_NODE \(--es-node\): node 2 of 2 \(http:\/\/es1:9200\/\) is listed twice/);
    // every command that talks to Elasticsearch takes the list
    for (const command of ['bootstrap', 'index', 'status'] as const) {
      assert.equal(loadCommandLine(command, ['--es-node', 'http://es1:9200,http://es2:9200']).config.esNode, 'http://es1:9200,http://es2:9200');
    }
  });

  it('a URL with a user and an empty password (http://user:@host) is refused at config load, not sent with the global credentials', () => {
    for (const [value, named, lacks] of [
      ['http://elastic:@es1:9200', '', 'a user but no password'],
      ['http://elastic@es1:9200', '', 'a user but no password'],
      ['http://es1:9200,http://elastic:@es2:9200', 'node 2 of 2 \\(http://elastic:\\*\\*\\*@es2:9200\\S*\\) ', 'a user but no password'],
      ['http://:hunter22@es1:9200', '', 'a password but no user'],
    ] as const) {
      const err = refusal(() => loadCommandLine('index', ['--es-node', value], { LOGSHIP_ES_USERNAME: 'global', LOGSHIP_ES_PASSWORD: 'global-pw' }));
      assert.ok(isLogshipError(err), value);
      assert.equal(err.exitCode, 2);
      assert.match(err.message, new RegExp(`--es-node \\(LOGSHIP_ES_NODE\\): ${named}has ${lacks} before "@": write user:password@ \\(both\\)`), value);
      assert.doesNotMatch(`${err.message} ${err.hint}`, /hunter22/);
    }
    const bootstrap = refusal(() => loadCommandLine('bootstrap', [], { LOGSHIP_ES_NODE: 'https://ops:@es1:9200' }));
    assert.match(bootstrap.message, /LOGSHIP_ES_NODE \(--es-node\): has a user but no password/);
    assert.equal(loadCommandLine('index', ['--es-node', 'http://u:p@es1:9200,http://es2:9200']).config.esNode, 'http://u:p@es1:9200,http://es2:9200');
  });
});
