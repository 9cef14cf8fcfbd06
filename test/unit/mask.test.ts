/** Credentials masked in every message; plain-language broker and connection errors with correct hints. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCodes, describeConnectError, maskUrl, scrubSecrets, translateBrokerError } from '@logship/common';
import fc from 'fast-check';
import { batchAdvice } from '../../packages/cli/src/commands/index-command.js';

const seed = process.env.LOGSHIP_TEST_SEED ? Number(process.env.LOGSHIP_TEST_SEED) : undefined;

describe('maskUrl', () => {
  it('masks the password of URLs that parse, keeping the user, host and vhost', () => {
    assert.equal(maskUrl('amqp://shipper:s3cret@rabbit:5672/%2f'), 'amqp://shipper:***@rabbit:5672/%2f');
    assert.equal(maskUrl('http://127.0.0.1:9'), 'http://127.0.0.1:9/');
    assert.equal(maskUrl('https://elastic:pw@es:9200'), 'https://elastic:***@es:9200/');
    assert.equal(maskUrl('amqp://guest@host'), 'amqp://guest@host');
  });

  it('masks a password holding an unencoded # / ? or @ whole, though the URL parser would split it elsewhere', () => {
    // "amqp://u:12/hunter2@host" parses: host u, port 12, path /hunter2@host; the old mask showed the password's tail
    assert.equal(maskUrl('amqp://u:12/hunter2@host/%2f'), 'amqp://u:***@host/%2f');
    assert.equal(maskUrl('amqp://u:pa#hunter2@host/'), 'amqp://u:***@host/');
    assert.equal(maskUrl('amqp://u:pa?hunter2@host'), 'amqp://u:***@host');
    assert.equal(maskUrl('amqp://u:p@ss@hunter2@host'), 'amqp://u:***@host');
    assert.equal(maskUrl('u:hunter2@host:5672'), 'u:***@host:5672');
    assert.equal(maskUrl('amqp://u:hunter2@host:99999'), 'amqp://u:***@host:99999');
  });

  it('masks each URL of a comma-separated list, even when a password holds a comma', () => {
    assert.equal(maskUrl('amqp://a:one@h1,amqp://b:two@h2/%2f'), 'amqp://a:***@h1,amqp://b:***@h2/%2f');
    assert.equal(maskUrl('amqp://a:x,y@h1, amqps://b:z@h2'), 'amqp://a:***@h1,amqps://b:***@h2');
  });

  it('scrubSecrets removes a URL and its password, decoded or in pieces, from free text', () => {
    const url = 'amqp://u:hunter2%2Fpart-two@host/%2f';
    assert.equal(scrubSecrets(`failed: ${url}`, [url]), 'failed: amqp://u:***@host/%2f');
    assert.equal(scrubSecrets('bad port "hunter2/part-two"', [url]), 'bad port "***"');
    assert.equal(scrubSecrets('getaddrinfo ENOTFOUND part-two', ['amqp://u:hunter2/part-two@host']), 'getaddrinfo ENOTFOUND ***');
  });
});

describe('connection errors', () => {
  it('a vhost that does not exist is named, with the user and the rabbitmqctl commands, not "is the broker running?"', () => {
    const err = describeConnectError('amqp://shipper:pw@rabbit:5672/staging', new Error('Expected ConnectionOpenOk; got <ConnectionClose channel:0>'));
    assert.equal(err.code, ErrorCodes.AMQP_CONNECT);
    assert.match(err.message, /refused to open vhost "staging": the vhost does not exist or user "shipper" may not use it/);
    assert.match(err.hint ?? '', /rabbitmqctl add_vhost "staging"/);
    assert.match(err.hint ?? '', /rabbitmqctl set_permissions -p "staging" "shipper"/);
    assert.doesNotMatch(`${err.message} ${err.hint}`, /is the broker running/);
    // no path: amqplib opens "/" as guest when the URL has no user
    assert.match(describeConnectError('amqp://rabbit', new Error('NOT_ALLOWED - vhost / not found')).message, /vhost "\/".*user "guest"/);
  });

  it('an error that quotes the URL or the password does not leak it', () => {
    const url = 'amqp://u:hunter2secret@host/%2f';
    for (const msg of [`connect ECONNREFUSED ${url}`, 'Invalid password hunter2secret', `bad ${encodeURIComponent('hunter2secret')}`]) {
      const err = describeConnectError(url, new Error(msg));
      assert.doesNotMatch(`${err.message} ${err.hint}`, /hunter2/, msg);
    }
  });
});

describe('broker error hints', () => {
  const inequivalent = (arg: string, kind: string, name: string, received: string, current: string) =>
    new Error(
      `Operation failed: ${kind === 'exchange' ? 'Exchange' : 'Queue'}Declare; 406 (PRECONDITION-FAILED) with message ` +
        `"PRECONDITION_FAILED - inequivalent arg '${arg}' for ${kind} '${name}' in vhost '/': received ${received} but current is ${current}"`,
    );

  it('names rabbitmqadmin or the management UI to delete an exchange (rabbitmqctl has no delete_exchange)', () => {
    const e = translateBrokerError(
      inequivalent('type', 'exchange', 'logs', "'direct'", "'fanout'"),
      { kind: 'exchange', name: 'logs', option: 'exchange' },
      'declare',
    );
    assert.equal(e.code, ErrorCodes.TOPOLOGY_MISMATCH);
    assert.match(e.message, /exchange "logs" in vhost "\/" already exists with type = fanout, but logship asked for type = direct/);
    assert.doesNotMatch(e.hint ?? '', /delete_exchange/);
    assert.match(e.hint ?? '', /rabbitmqadmin --vhost="\/" delete exchange name="logs"/);
    assert.match(e.hint ?? '', /management UI/);
    assert.match(e.hint ?? '', /another --exchange name/);
  });

  it('names --dead-letter-queue, not --queue, for the dead-letter queue, and rabbitmqctl delete_queue with its vhost', () => {
    const e = translateBrokerError(
      inequivalent('x-queue-type', 'queue', 'logs.dead', "the value 'quorum' of type 'longstr'", 'none'),
      { kind: 'queue', name: 'logs.dead', option: 'dead-letter-queue' },
      'declare',
    );
    assert.match(e.message, /x-queue-type = \(not set\), but logship asked for x-queue-type = quorum/);
    assert.match(e.hint ?? '', /--queue-type/);
    assert.match(e.hint ?? '', /rabbitmqctl -p "\/" delete_queue "logs.dead"/);
    const dlx = translateBrokerError(
      inequivalent('x-dead-letter-exchange', 'queue', 'logs.dead', "the value 'a' of type 'longstr'", "the value 'b' of type 'longstr'"),
      { kind: 'queue', name: 'logs.dead', option: 'dead-letter-queue' },
      'declare',
    );
    assert.match(dlx.hint ?? '', /another --dead-letter-queue name/);
    assert.doesNotMatch(dlx.hint ?? '', /--queue /);
    const missing = translateBrokerError(
      new Error('404 (NOT-FOUND) NOT_FOUND - no queue'),
      { kind: 'queue', name: 'logs.dead', option: 'dead-letter-queue' },
      'check',
    );
    assert.match(missing.hint ?? '', /--dead-letter-queue setting/);
  });
});

describe('--batch-size and --prefetch', () => {
  it('warns with the fix when --batch-size is larger than --prefetch (a batch of single-event messages never fills)', () => {
    const advice = batchAdvice({ batchSize: 2000, prefetch: 10, flushInterval: 1000 });
    assert.match(advice ?? '', /--batch-size 2000 is larger than --prefetch 10/);
    assert.match(advice ?? '', /set --prefetch 2000 or more/);
    assert.match(advice ?? '', /200 or more events per message/);
    assert.equal(batchAdvice({ batchSize: 500, prefetch: 1000, flushInterval: 1000 }), undefined);
    assert.equal(batchAdvice({ batchSize: 10, prefetch: 10, flushInterval: 1000 }), undefined);
  });
});

// ---- properties ----

/** A distinctive piece inside every generated password: found in a message only if the password leaked. */
const MARK = 'Pw9Zq';
const user = fc.string({ unit: 'binary', maxLength: 10 }).filter((u) => !u.includes(MARK) && !/[:@]/.test(u));
const password = fc
  .tuple(fc.string({ unit: 'binary', maxLength: 10 }), fc.string({ unit: 'binary', maxLength: 10 }))
  .map(([a, b]) => `${a}${MARK}${b}`)
  .filter((p) => !/,\s*[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(p));
const urlOf = fc.constantFrom(
  (u: string, p: string) => `amqp://${u}:${p}@rabbit:5672/%2f`,
  (u: string, p: string) => `amqp://${encodeURIComponent(u)}:${encodeURIComponent(p)}@rabbit:5672/vh`,
  (u: string, p: string) => `amqps://${u}:${p}@rabbit`,
  (u: string, p: string) => `http://${u}:${p}@es:9200`,
  (u: string, p: string) => `${u}:${p}@rabbit`,
  (u: string, p: string) => `amqp://a:b@one,amqp://${u}:${p}@two/%2f`,
);

function assertNoLeak(text: string, pw: string): void {
  assert.ok(!text.includes(pw), `password ${JSON.stringify(pw)} in ${JSON.stringify(text)}`);
  assert.ok(!text.includes(MARK), `part of password ${JSON.stringify(pw)} in ${JSON.stringify(text)}`);
}

describe('masking properties (fast-check)', () => {
  it('maskUrl never shows the password, whatever characters the user and password hold', () => {
    fc.assert(
      fc.property(user, password, urlOf, (u, p, make) => {
        const url = make(u, p);
        const masked = maskUrl(url);
        assertNoLeak(masked, p);
        // masking hides the password only: the user and the host stay readable
        const host = /^[a-z]+/.exec(url.slice(url.lastIndexOf('@') + 1))?.[0] ?? '';
        assert.ok(masked.includes(`:***@${host}`), `host ${host} of ${JSON.stringify(url)} not kept: ${JSON.stringify(masked)}`);
        assert.ok(
          masked.includes(`${u}:***@`) || masked.includes(`${encodeURIComponent(u)}:***@`),
          `user ${JSON.stringify(u)} not kept: ${JSON.stringify(masked)}`,
        );
      }),
      { seed, numRuns: 1000 },
    );
  });

  it('describeConnectError never shows the password, even when the library error quotes the URL or the password', () => {
    const errorText = fc.constantFrom(
      (url: string) => `connect ECONNREFUSED ${url}`,
      (_url: string, p: string) => `Invalid URL: ${p}`,
      (_url: string, p: string) => `getaddrinfo ENOTFOUND ${encodeURIComponent(p)}`,
      () => 'Expected ConnectionOpenOk; got <ConnectionClose channel:0>',
      () => 'Handshake terminated by server: 403 (ACCESS-REFUSED)',
    );
    fc.assert(
      fc.property(user, password, urlOf, errorText, (u, p, make, text) => {
        const url = make(u, p);
        const err = describeConnectError(url, new Error(text(url, p)));
        assertNoLeak(`${err.message}\n${err.hint}`, p);
      }),
      { seed, numRuns: 500 },
    );
  });
});
