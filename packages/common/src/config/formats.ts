/** Custom convict formats shared by the schema. */
import convict from 'convict';
import { validateDataStreamName } from '../index-name.js';
import { maskUrl, splitUrl, splitUrlList } from '../logger.js';
import { MAX_PREFETCH, parseBytes, parseDuration, parseRetention } from '../units.js';

const TRUE_WORDS = ['true', '1', 'yes', 'on'];
const FALSE_WORDS = ['false', '0', 'no', 'off'];

/** true/false/1/0/yes/no/on/off in any case, surrounding spaces ignored; anything else is returned unchanged (and refused). */
export function parseBooleanWord(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const word = value.trim().toLowerCase();
  if (TRUE_WORDS.includes(word)) return true;
  if (FALSE_WORDS.includes(word)) return false;
  return value;
}

/**
 * The user information of a URL (between "://" and the last "@") must not hold
 * / ? # or \: the URL parser would end the host there and read the rest of the
 * password as host, port or path. Returns the reason, or undefined.
 */
function ambiguousCredentials(value: string): string | undefined {
  const { user, password } = splitUrl(value);
  if (user === undefined || !/[/?#\\]/.test(password === undefined ? user : `${user}:${password}`)) return undefined;
  return (
    'has a / ? # or \\ before its last "@": percent-encode them in the user and password ' +
    '(/ as %2F, ? as %3F, # as %23, @ as %40), or an "@" in the path as %40'
  );
}

function validateUrl(value: unknown, schemes: RegExp, expected: string): void {
  if (typeof value !== 'string' || !schemes.test(value)) throw new Error(expected);
  const ambiguous = ambiguousCredentials(value);
  if (ambiguous) throw new Error(ambiguous);
  try {
    new URL(value);
  } catch {
    // the parser's message would add nothing; the value is shown masked by the loader
    throw new Error(`is not a valid URL; ${expected.replace(/^must be/, 'expected')}`);
  }
}

/**
 * A comma-separated list of URLs, the nodes of one cluster (a single URL is a
 * list of one). Each entry is checked alone; a bad one is named by its position
 * and its masked form, so the message never holds a password.
 */
/**
 * `pairedCredentials` (the http lists): a URL's user and password are used together or not at
 * all, so user:@host, user@host or :password@host would silently fall back to the global
 * credentials; refused instead.
 */
function validateUrlList(value: unknown, schemes: RegExp, expected: string, pairedCredentials = false): void {
  if (typeof value !== 'string') throw new Error(expected);
  const urls = splitUrlList(value);
  const seen = new Set<string>();
  const example = schemes.source.includes('amqp') ? 'amqp://h1:5672,amqp://h2:5672' : 'http://es1:9200,http://es2:9200';
  urls.forEach((raw, i) => {
    const url = raw.trim();
    const where = urls.length === 1 ? '' : `node ${i + 1} of ${urls.length} (${url ? maskUrl(url) : 'empty'}) `;
    // a comma after the credentials only ever separates nodes: "h1,h2" or a trailing comma is a list written wrong
    if (splitUrl(url).tail.includes(',')) {
      throw new Error(
        `${where}has a comma in its host or path: write every node with its scheme (such as ${example}), ` +
          'without a trailing comma; a comma in a vhost or path is %2C',
      );
    }
    try {
      validateUrl(url, schemes, expected);
    } catch (err) {
      throw new Error(`${where}${(err as Error).message}${where ? '; separate the nodes of one cluster with commas' : ''}`);
    }
    const parsed = new URL(url);
    // amqp://h and amqp://h/ are the same node (and the same default vhost)
    const key = parsed.pathname === '/' ? parsed.href.replace(/\/$/, '') : parsed.href;
    if (seen.has(key)) throw new Error(`${where}is listed twice; list each node once`);
    seen.add(key);
    const { user, password } = splitUrl(url);
    if (pairedCredentials && (user !== undefined || password !== undefined) && (!user || !password)) {
      const lacks = user ? 'a user but no password' : 'a password but no user';
      throw new Error(
        `${where}has ${lacks} before "@": write user:password@ (both), or no credentials in the URL to use --es-api-key or --es-username/--es-password`,
      );
    }
  });
}

let registered = false;

export function registerFormats(): void {
  if (registered) return;
  registered = true;
  convict.addFormat({
    name: 'bytes',
    validate(value: unknown) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 1) {
        throw new Error('must be a size such as 512kb, 5mb or a number of bytes (at least 1)');
      }
    },
    coerce: (value: unknown) => parseBytes(value),
  });
  convict.addFormat({
    name: 'duration',
    validate(value: unknown) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new Error('must be a duration such as 250ms, 1s, 5m or a number of milliseconds');
      }
    },
    coerce: (value: unknown) => parseDuration(value),
  });
  convict.addFormat({
    name: 'retention',
    validate(value: unknown) {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new Error('must be a duration with a unit, d (days) or h (hours), of at least 1h, such as 30d or 12h; or 0 to keep indices forever');
      }
    },
    coerce: (value: unknown) => parseRetention(value),
  });
  convict.addFormat({
    name: 'positive-int',
    validate(value: unknown) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
        throw new Error('must be a whole number of at least 1');
      }
    },
    coerce: (value: unknown) => (typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value),
  });
  convict.addFormat({
    name: 'port-or-null',
    validate(value: unknown) {
      if (value === null) return;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) {
        throw new Error('must be a TCP port between 0 and 65535 (0 picks any free port)');
      }
    },
    coerce: (value: unknown) => {
      if (value === '' || value === 'off' || value === 'null') return null;
      return typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
    },
  });
  convict.addFormat({
    name: 'amqp-url',
    validate: (value: unknown) =>
      validateUrlList(
        value,
        /^amqps?:\/\/[^/]/,
        'must be an amqp:// or amqps:// URL such as amqp://user:pass@host:5672/%2f, or a comma-separated list of them',
      ),
  });
  convict.addFormat({
    name: 'http-url',
    validate: (value: unknown) => validateUrl(value, /^https?:\/\/[^/]/, 'must be an http:// or https:// URL such as http://127.0.0.1:9200'),
  });
  convict.addFormat({
    name: 'http-url-list',
    validate: (value: unknown) =>
      validateUrlList(value, /^https?:\/\/[^/]/, 'must be an http:// or https:// URL such as http://127.0.0.1:9200, or a comma-separated list of them', true),
  });
  convict.addFormat({
    name: 'http-url-or-empty',
    validate(value: unknown) {
      if (value === '') return;
      validateUrl(value, /^https?:\/\/[^/]/, 'must be an http:// or https:// URL such as http://127.0.0.1:5601, or empty');
    },
  });
  convict.addFormat({
    name: 'bool',
    validate(value: unknown) {
      if (typeof value === 'boolean') return;
      if (value === '' || (typeof value === 'string' && value.trim() === '')) {
        throw new Error('is empty; write true or false (also 1/0, yes/no, on/off), or unset the variable');
      }
      throw new Error('must be true or false (also 1/0, yes/no, on/off, in any case)');
    },
    coerce: parseBooleanWord,
  });
  convict.addFormat({
    name: 'prefetch',
    validate(value: unknown) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_PREFETCH) {
        throw new Error(`must be a whole number from 1 to ${MAX_PREFETCH} (the AMQP prefetch count is 16 bits; 0, unlimited, is not allowed)`);
      }
    },
    coerce: (value: unknown) => (typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value),
  });
  convict.addFormat({
    name: 'index-pattern',
    // the pattern itself is checked by the loader, only for the commands that write or count with it
    validate(value: unknown) {
      if (typeof value !== 'string') throw new Error('must be an index name or pattern such as logs-%{+yyyy.MM.dd}');
    },
  });
  convict.addFormat({
    name: 'data-stream-or-empty',
    validate(value: unknown) {
      if (value === '') return;
      if (typeof value !== 'string') throw new Error('must be a data stream name such as logs-app-default');
      const problem = validateDataStreamName(value);
      if (problem) throw new Error(problem);
    },
  });
  convict.addFormat({
    name: 'ilm-policy-or-empty',
    validate(value: unknown) {
      if (value === '') return;
      // Elasticsearch: no commas, no spaces, not starting with _, at most 255 bytes
      if (typeof value !== 'string' || !/^[^_\s,][^\s,]*$/.test(value) || Buffer.byteLength(value) > 255) {
        throw new Error('must be an ILM policy name: no spaces or commas, not starting with _, at most 255 bytes');
      }
    },
  });
  convict.addFormat({
    name: 'output',
    validate(value: unknown) {
      if (value === 'elasticsearch' || value === 'stdout') return;
      if (typeof value === 'string' && value.startsWith('file:') && value.length > 5) return;
      throw new Error('must be elasticsearch, stdout or file:PATH');
    },
  });
  convict.addFormat({
    name: 'regex-or-empty',
    validate(value: unknown) {
      if (typeof value !== 'string') throw new Error('must be a regular expression');
      if (value !== '') new RegExp(value);
    },
  });
  convict.addFormat({
    name: 'name',
    validate(value: unknown) {
      if (typeof value !== 'string' || value.length === 0 || value.length > 255) {
        throw new Error('must be a non-empty name of at most 255 characters');
      }
    },
  });
}
