/** Configuration parsing properties (fast-check): boolean words, numbers, and no password in any message. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ErrorCodes, LogshipError, loadCommandLine } from '@logship/common';
import fc from 'fast-check';

const seed = process.env.LOGSHIP_TEST_SEED ? Number(process.env.LOGSHIP_TEST_SEED) : undefined;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logship-config-prop-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const TRUE = ['true', '1', 'yes', 'on'];
const FALSE = ['false', '0', 'no', 'off'];

/** a word in random case with random spaces around it */
function spelled(words: string[]) {
  return fc
    .tuple(
      fc.constantFrom(...words),
      fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
      fc.constantFrom('', ' ', '  ', '\t'),
      fc.constantFrom('', ' ', '\n'),
    )
    .map(([w, upper, before, afterText]) => before + [...w].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join('') + afterText);
}

function refusal(fn: () => unknown): LogshipError | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof LogshipError, `not a LogshipError: ${String(err)}`);
    return err;
  }
}

describe('configuration properties (fast-check)', () => {
  it('a boolean variable is true or false exactly for the words, in any case and spacing; anything else exits 2 naming it', () => {
    fc.assert(
      fc.property(fc.oneof(spelled(TRUE), spelled(FALSE), fc.string({ maxLength: 8 })), (value) => {
        const word = value.trim().toLowerCase();
        const err = refusal(() => loadCommandLine('ship', [], { LOGSHIP_FOLLOW: value }));
        if (TRUE.includes(word) || FALSE.includes(word)) {
          assert.equal(err, undefined, `LOGSHIP_FOLLOW=${JSON.stringify(value)}`);
          assert.equal(loadCommandLine('ship', [], { LOGSHIP_FOLLOW: value }).config.follow, TRUE.includes(word));
        } else {
          assert.ok(err, `LOGSHIP_FOLLOW=${JSON.stringify(value)} was accepted`);
          assert.equal(err.code, ErrorCodes.CONFIG_INVALID);
          assert.equal(err.exitCode, 2);
          assert.match(err.message, /LOGSHIP_FOLLOW \(--follow\)/);
        }
      }),
      { seed, numRuns: 300 },
    );
  });

  it('--prefetch accepts exactly the whole numbers 1-65535, from a flag (with or without =) or the environment', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: -100_000, max: 100_000 }), fc.integer({ min: 1, max: 65535 })),
        fc.constantFrom('flag', 'flag=', 'env'),
        (n, how) => {
          const text = String(n);
          const load = () =>
            how === 'env'
              ? loadCommandLine('index', [], { LOGSHIP_PREFETCH: text })
              : loadCommandLine('index', how === 'flag' ? ['--prefetch', text] : [`--prefetch=${text}`], {});
          const err = refusal(load);
          if (n >= 1 && n <= 65535) {
            assert.equal(err, undefined);
            assert.equal(load().config.prefetch, n);
          } else {
            assert.ok(err, `--prefetch ${n} was accepted`);
            assert.equal(err.exitCode, 2);
            assert.match(err.message, /prefetch.*must be a whole number from 1 to 65535/i);
          }
        },
      ),
      { seed, numRuns: 300 },
    );
  });

  it('no message of a configuration load shows a password, whatever it holds and wherever the URL comes from', () => {
    const MARK = 'Pw9Zq';
    const user = fc.string({ unit: 'binary', maxLength: 8 }).filter((u) => !u.includes(MARK) && !/[:@\0]/.test(u));
    const password = fc
      .tuple(fc.string({ unit: 'binary', maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 8 }))
      .map(([a, b]) => `${a}${MARK}${b}`)
      .filter((p) => !p.includes('\0') && !/,\s*[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(p));
    const url = fc.constantFrom(
      (u: string, p: string) => ({ option: 'amqpUrl', value: `amqp://${u}:${p}@rabbit:5672/%2f` }),
      (u: string, p: string) => ({ option: 'amqpUrl', value: `amqp://${encodeURIComponent(u)}:${encodeURIComponent(p)}@rabbit/vh` }),
      (u: string, p: string) => ({ option: 'amqpUrl', value: `http://${u}:${p}@rabbit` }),
      (u: string, p: string) => ({ option: 'amqpUrl', value: `${u}:${p}@rabbit` }),
      (u: string, p: string) => ({ option: 'esNode', value: `http://${u}:${p}@es:9200` }),
      (u: string, p: string) => ({ option: 'esNode', value: `https://${u}:${p}@es:99999` }),
      (_u: string, p: string) => ({ option: 'esPassword', value: p }),
      (_u: string, p: string) => ({ option: 'esApiKey', value: p }),
    );
    const flags: Record<string, string> = { amqpUrl: '--amqp-url', esNode: '--es-node', esPassword: '--es-password', esApiKey: '--es-api-key' };
    const envs: Record<string, string> = {
      amqpUrl: 'LOGSHIP_AMQP_URL',
      esNode: 'LOGSHIP_ES_NODE',
      esPassword: 'LOGSHIP_ES_PASSWORD',
      esApiKey: 'LOGSHIP_ES_API_KEY',
    };
    let n = 0;
    /** runs whose message names the option: the property must see refusals of the sensitive values themselves */
    let named = 0;
    fc.assert(
      fc.property(user, password, url, fc.constantFrom('flag', 'env', 'file'), fc.boolean(), (u, p, make, from, alsoBad) => {
        const { option, value } = make(u, p);
        // another bad value makes sure there is a message even when the URL is valid
        const args = alsoBad ? ['--es-timeout', 'soon'] : [];
        const env: Record<string, string> = {};
        if (from === 'flag') args.push(`${flags[option]}=${value}`);
        else if (from === 'env') env[envs[option]!] = value;
        else {
          const file = path.join(dir, `c${n++}.json`);
          fs.writeFileSync(file, `{ ${JSON.stringify(option)}: ${JSON.stringify(value)} }`);
          args.push('--config', file);
        }
        const err = refusal(() => loadCommandLine('bootstrap', args, env));
        if (!err) return;
        const text = `${err.message}\n${err.hint ?? ''}`;
        assert.ok(!text.includes(p) && !text.includes(MARK), `password ${JSON.stringify(p)} shown: ${JSON.stringify(text)}`);
        if (text.includes(flags[option]!) || text.includes(envs[option]!)) named++;
      }),
      { seed, numRuns: 400 },
    );
    assert.ok(named > 0, 'no run was refused for the sensitive option itself: the property checked nothing');
  });
});
