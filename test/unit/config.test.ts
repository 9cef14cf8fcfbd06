import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ErrorCodes, LogshipError, defaultConfig, loadCommandLine } from '@logship/common';

function expectInvalid(fn: () => unknown, mentions: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof LogshipError, `expected LogshipError, got ${String(err)}`);
    assert.equal(err.code, ErrorCodes.CONFIG_INVALID);
    assert.equal(err.exitCode, 2);
    assert.match(`${err.message} ${err.hint ?? ''}`, mentions);
    return true;
  });
}

function tmpFile(content: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logship-config-'));
  const file = path.join(dir, 'f');
  fs.writeFileSync(file, content);
  return file;
}

describe('configuration', () => {
  it('has the defaults of DESIGN.md', () => {
    const c = defaultConfig();
    assert.equal(c.amqpUrl, 'amqp://guest:guest@127.0.0.1:5672/%2f');
    assert.equal(c.exchange, 'logs');
    assert.equal(c.queue, 'logs.indexer');
    assert.equal(c.routingKey, 'logs');
    assert.equal(c.deadLetterExchange, 'logs.dlx');
    assert.equal(c.deadLetterQueue, 'logs.dead');
    assert.equal(c.queueType, 'classic');
    assert.equal(c.esNode, 'http://127.0.0.1:9200');
    assert.equal(c.index, 'logs-%{+yyyy.MM.dd}');
    assert.equal(c.output, 'elasticsearch');
    assert.equal(c.prefetch, 1000);
    assert.equal(c.batchSize, 500);
    assert.equal(c.batchBytes, 5 * 1024 * 1024);
    assert.equal(c.flushInterval, 1000);
    assert.equal(c.httpHost, '127.0.0.1');
    assert.equal(c.eventsPerMessage, 1);
    assert.equal(c.codec, 'plain');
    assert.equal(c.metricsPort, null);
  });

  it('takes flags over environment over config file', () => {
    const file = tmpFile(JSON.stringify({ prefetch: 10, batchSize: 20, exchange: 'from-file' }));
    const { config } = loadCommandLine('index', ['--config', file, '--prefetch', '30'], {
      LOGSHIP_PREFETCH: '40',
      LOGSHIP_BATCH_SIZE: '50',
    });
    assert.equal(config.prefetch, 30);
    assert.equal(config.batchSize, 50);
    assert.equal(config.exchange, 'from-file');
  });

  it('accepts camelCase, kebab-case and snake_case keys in the config file', () => {
    const file = tmpFile(JSON.stringify({ routingKey: 'a', 'dead-letter-queue': 'b', batch_bytes: '1kb' }));
    const { config } = loadCommandLine('index', ['--config', file], {});
    assert.equal(config.routingKey, 'a');
    assert.equal(config.deadLetterQueue, 'b');
    assert.equal(config.batchBytes, 1024);
  });

  it('parses sizes and durations', () => {
    const { config } = loadCommandLine('index', ['--batch-bytes=512kb', '--flush-interval', '250ms', '--retry-timeout', '2m'], {});
    assert.equal(config.batchBytes, 512 * 1024);
    assert.equal(config.flushInterval, 250);
    assert.equal(config.retryTimeout, 120_000);
  });

  it('rejects an unknown flag, naming it and suggesting the right one', () => {
    expectInvalid(() => loadCommandLine('index', ['--prefech', '5'], {}), /--prefech.*did you mean --prefetch/s);
  });

  it('rejects a flag of another command', () => {
    expectInvalid(() => loadCommandLine('ship', ['--prefetch', '5'], {}), /--prefetch does not apply to "logship ship"/);
  });

  it('rejects a bad value, naming the flag and the variable', () => {
    expectInvalid(() => loadCommandLine('index', ['--prefetch', 'many'], {}), /--prefetch \(LOGSHIP_PREFETCH\)/);
    expectInvalid(() => loadCommandLine('index', [], { LOGSHIP_BATCH_BYTES: 'huge' }), /--batch-bytes \(LOGSHIP_BATCH_BYTES\)/);
    expectInvalid(() => loadCommandLine('index', ['--amqp-url', 'http://x'], {}), /--amqp-url/);
    expectInvalid(() => loadCommandLine('index', ['--output', 'kafka'], {}), /--output/);
    expectInvalid(() => loadCommandLine('bootstrap', ['--queue-type', 'stream'], {}), /--queue-type/);
  });

  it('rejects an unknown LOGSHIP_ variable and an unknown config file key', () => {
    expectInvalid(() => loadCommandLine('index', [], { LOGSHIP_PREFECH: '5' }), /LOGSHIP_PREFECH.*LOGSHIP_PREFETCH/s);
    const file = tmpFile(JSON.stringify({ prefech: 5 }));
    expectInvalid(() => loadCommandLine('index', ['--config', file], {}), /unknown key "prefech".*"prefetch"/s);
    const bad = tmpFile('{ not json');
    expectInvalid(() => loadCommandLine('index', ['--config', bad], {}), /not valid JSON/);
  });

  it('reads secrets from *_FILE variables', () => {
    const file = tmpFile('s3cret\n');
    const { config } = loadCommandLine('index', [], { LOGSHIP_ES_PASSWORD_FILE: file });
    assert.equal(config.esPassword, 's3cret');
    expectInvalid(() => loadCommandLine('index', [], { LOGSHIP_ES_PASSWORD_FILE: file, LOGSHIP_ES_PASSWORD: 'x' }), /keep one/);
  });

  it('lets test hooks through (LOGSHIP_TEST_*)', () => {
    assert.doesNotThrow(() => loadCommandLine('index', [], { LOGSHIP_TEST_ES_NODE: 'http://x' }));
  });
});
