/** JSON log lines on stderr (pino). Secrets are redacted and URLs masked. */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

const REDACT = ['password', 'esPassword', 'esApiKey', 'apiKey', '*.password', '*.esPassword', '*.esApiKey', '*.apiKey', 'headers.authorization'];

export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'logship',
      level: options.level ?? 'info',
      redact: { paths: REDACT, censor: '***' },
      base: { pid: process.pid },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}

const SCHEME = /^\s*[A-Za-z][A-Za-z0-9+.-]*:\/\//;
/** a comma starts a new URL of a list only when a scheme follows it (a password may hold commas) */
const LIST_SEPARATOR = /,(?=\s*[A-Za-z][A-Za-z0-9+.-]*:\/\/)/;

/**
 * amqp://user:secret@host/vhost -> amqp://user:***@host/vhost, also for a
 * comma-separated list of URLs and for URLs that do not parse. The rule is a
 * string rule, not the URL parser's: everything between "://" and the LAST "@"
 * is the user information, so a password holding an unencoded / # ? or @
 * (which the parser would split elsewhere) is still hidden whole. A user
 * information without ":" is a user name and stays visible.
 */
export function maskUrl(url: string): string {
  return splitUrlList(url).map(maskOneUrl).join(',');
}

/** A URL cut by the string rule: scheme, user information (before the LAST "@") and the rest. */
export interface UrlParts {
  scheme: string;
  /** undefined when there is no "@" */
  user: string | undefined;
  /** undefined when the user information has no ":" */
  password: string | undefined;
  /** host, port, path, query: never a piece of the password */
  tail: string;
}

export function splitUrl(url: string): UrlParts {
  const scheme = SCHEME.exec(url)?.[0] ?? '';
  const rest = url.slice(scheme.length);
  const at = rest.lastIndexOf('@');
  if (at < 0) return { scheme, user: undefined, password: undefined, tail: rest };
  const userInfo = rest.slice(0, at);
  const colon = userInfo.indexOf(':');
  return {
    scheme,
    user: colon < 0 ? userInfo : userInfo.slice(0, colon),
    password: colon < 0 ? undefined : userInfo.slice(colon + 1),
    tail: rest.slice(at + 1),
  };
}

/** The URLs of a comma-separated list (a single URL gives itself). */
export function splitUrlList(list: string): string[] {
  return list.split(LIST_SEPARATOR);
}

function maskOneUrl(url: string): string {
  const { scheme, user, password, tail } = splitUrl(url);
  if (user === undefined) return normalized(url) ?? url;
  const shown = password === undefined ? user : `${user}:***`;
  const host = scheme ? normalized(`${scheme.trim()}${tail}`) : undefined;
  if (host === undefined) return `${scheme}${shown}@${tail}`;
  const sep = host.indexOf('://') + 3;
  return `${host.slice(0, sep)}${shown}@${host.slice(sep)}`;
}

/** the parser's spelling (http://h:9 -> http://h:9/) of a URL without credentials; undefined if it does not parse */
function normalized(url: string): string | undefined {
  try {
    const u = new URL(url.trim());
    return u.username || u.password ? undefined : u.toString();
  } catch {
    return undefined;
  }
}

/** The password part of a URL by the same string rule as maskUrl ('' when there is none). */
export function urlPassword(url: string): string {
  return splitUrl(url).password ?? '';
}

/** Shorter secrets are not scrubbed from free text: replacing every "ab" would garble the message and hide nothing. */
const MIN_SCRUB_LENGTH = 4;

/**
 * Removes the credentials of `urls` from a free-text message (an error from a
 * library may quote the URL, or a piece of a password it mis-parsed): each URL
 * is replaced by its masked form, then every remaining occurrence of a
 * password, decoded or not, and of its pieces between URL delimiters.
 */
export function scrubSecrets(text: string, urls: string[]): string {
  let out = text;
  for (const list of urls) {
    for (const url of [list, ...list.split(LIST_SEPARATOR)]) {
      if (url) out = out.split(url).join(maskUrl(url));
    }
  }
  for (const list of urls) {
    for (const url of list.split(LIST_SEPARATOR)) {
      const password = urlPassword(url);
      if (!password) continue;
      const decoded = safeDecode(password);
      const spellings = [password, decoded, encodeURIComponent(password), encodeURIComponent(decoded), parsedPassword(url)];
      const pieces = new Set(spellings.flatMap((p) => [p, ...p.split(/[/?#@:\\]/)]));
      for (const piece of [...pieces].sort((a, b) => b.length - a.length)) {
        if (piece.length >= MIN_SCRUB_LENGTH) out = out.split(piece).join('***');
      }
    }
  }
  return out;
}

/** The settings whose secrets may come back in an error text (a URL with a password, a password, an API key). */
export interface SecretSettings {
  amqpUrl?: string;
  esNode?: string;
  esPassword?: string;
  esApiKey?: string;
}

/**
 * scrubSecrets for the settings of a command: the URLs masked, and every
 * spelling of --es-password and --es-api-key (raw, percent-encoded, and the
 * id and key inside a base64 API key) replaced by ***. Use it on any error
 * text that came from Elasticsearch or RabbitMQ before printing or serving it.
 */
export function scrubConfigSecrets(text: string, settings: SecretSettings): string {
  let out = scrubSecrets(text, [settings.amqpUrl ?? '', settings.esNode ?? ''].filter(Boolean));
  const secrets = new Set<string>();
  for (const value of [settings.esPassword, settings.esApiKey]) {
    if (!value) continue;
    secrets.add(value);
    secrets.add(encodeURIComponent(value));
  }
  if (settings.esApiKey) {
    // an API key is base64 of id:key: the key is the secret (the id is not, and Elasticsearch names it)
    const decoded = Buffer.from(settings.esApiKey, 'base64').toString('utf8');
    if (/^[\x20-\x7e]+:[\x20-\x7e]+$/.test(decoded)) {
      secrets.add(decoded);
      secrets.add(decoded.slice(decoded.indexOf(':') + 1));
    }
  }
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length >= MIN_SCRUB_LENGTH) out = out.split(secret).join('***');
  }
  return out;
}

/** the password as the URL parser spells it (percent-encoded), or '' */
function parsedPassword(url: string): string {
  try {
    return new URL(url.trim()).password;
  } catch {
    return '';
  }
}

/** decodeURIComponent, or the text unchanged when it is not valid percent-encoding */
export function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
