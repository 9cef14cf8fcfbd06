/** Options of `logship ship` that do not apply are refused; the summary and errors name what was not delivered and why. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCodes, LogshipError, createLogger, createRegistry, loadCommandLine } from '@logship/common';
import { ShipSession, checkShipOptions, formatSummary, publisherOptions, shipMultiline } from '@logship/shipper';

function check(argv: string[], files: boolean): LogshipError | null {
  const { config } = loadCommandLine('ship', argv, {});
  try {
    checkShipOptions(config, { files });
    return null;
  } catch (err) {
    assert.ok(err instanceof LogshipError);
    return err;
  }
}

describe('ship options that do not apply', () => {
  it('--start-position end without --follow is refused with exit 2 (stdin and files)', () => {
    for (const files of [false, true]) {
      const err = check(['--start-position', 'end'], files);
      assert.equal(err?.exitCode, 2);
      assert.match(err!.message, /--start-position end applies only with --follow/);
    }
    assert.equal(check(['--start-position', 'end', '--follow'], true), null);
  });

  it('--scan-interval without --follow is refused with exit 2', () => {
    const err = check(['--scan-interval', '1s'], true);
    assert.equal(err?.exitCode, 2);
    assert.match(err!.message, /--scan-interval applies only with --follow/);
    assert.equal(check(['--scan-interval', '1s', '--follow'], true), null);
  });

  it('multiline options without --multiline-pattern are refused with exit 2', () => {
    for (const argv of [['--multiline-negate'], ['--multiline-match', 'before'], ['--multiline-max-lines', '9'], ['--multiline-timeout', '1s']]) {
      const err = check(argv, false);
      assert.equal(err?.exitCode, 2, argv.join(' '));
      assert.match(err!.message, new RegExp(`${argv[0]} applies only with --multiline-pattern`));
      assert.equal(check([...argv, '--multiline-pattern', '^\\s'], false), null, argv.join(' '));
    }
  });

  it('--follow on stdin is refused with exit 2; defaults pass', () => {
    assert.equal(check(['--follow'], false)?.exitCode, 2);
    assert.equal(check([], false), null);
    assert.equal(check([], true), null);
  });

  it('--max-inflight and --max-inflight-bytes bound the confirm window of the publisher', () => {
    const logger = createLogger({ level: 'silent' });
    const o = publisherOptions(loadCommandLine('ship', ['--max-inflight', '7', '--max-inflight-bytes', '64kb'], {}).config, logger);
    assert.equal(o.maxInflight, 7);
    assert.equal(o.maxInflightBytes, 64 * 1024);
    const env = publisherOptions(loadCommandLine('ship', [], { LOGSHIP_MAX_INFLIGHT_BYTES: '2mb' }).config, logger);
    assert.equal(env.maxInflightBytes, 2 * 1024 * 1024);
    assert.throws(() => loadCommandLine('ship', ['--max-inflight-bytes', '0'], {}), /--max-inflight-bytes/);
  });

  it('multiline applies to stdin and files alike', () => {
    const { config } = loadCommandLine('ship', ['--multiline-pattern', '^\\s', '--multiline-timeout', '250ms'], {});
    const m = shipMultiline(config);
    assert.ok(m);
    assert.equal(m.timeoutMs, 250);
    assert.equal(m.match, 'after');
    assert.equal(m.maxBytes, config.maxLineBytes, 'a joined event is capped as one line is');
    assert.equal(shipMultiline(loadCommandLine('ship', [], {}).config), null);
  });
});

describe('ship summary and delivery errors', () => {
  const session = () =>
    new ShipSession({ config: loadCommandLine('ship', [], {}).config, logger: createLogger({ level: 'silent' }), registry: createRegistry(false) });

  it('the summary line names how many events read were not delivered', () => {
    const s = { read: 10, published: 4, skipped: 1, failed: 2, truncated: 0, unroutable: 0, jsonFailures: 0 };
    assert.match(formatSummary(s), /read 10, published 4, skipped 1, failed 2 .*; 5 events read were not delivered$/);
    assert.doesNotMatch(formatSummary({ ...s, published: 9 }), /not delivered/);
  });

  it('events read but never handed to the broker are a local failure, not "not confirmed by the broker"', () => {
    const s = session();
    s.countRead();
    s.countRead();
    assert.throws(
      () => s.assertDelivered(false),
      (err: unknown) =>
        err instanceof LogshipError &&
        err.code === ErrorCodes.INPUT &&
        /2 events were read but never sent/.test(err.message) &&
        !/broker did not|not confirmed/.test(err.message),
    );
    assert.doesNotThrow(() => s.assertDelivered(true), 'a stop leaves unread work unreported');
  });
});
