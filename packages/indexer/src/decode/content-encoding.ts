/**
 * The AMQP content_encoding of a delivery: gzip and deflate bodies are
 * inflated, with a bound against decompression bombs; a body in an encoding
 * the indexer does not know is refused with the reason (dead-lettered: a
 * replay after a fix can still index it).
 */
import zlib from 'node:zlib';

/**
 * The largest body an indexer inflates: 64 MiB. Elasticsearch refuses HTTP
 * requests over 100 MB (http.max_content_length), so a larger event could
 * never be written anyway; 64 MiB keeps one message's buffer, its UTF-16
 * string and its document to a few hundred MB at most, and bounds the time a
 * bomb can take (inflating 64 MiB takes about a tenth of a second).
 */
export const MAX_INFLATED_BYTES = 64 * 1024 * 1024;

/**
 * Values that mean "not compressed". logship's own messages say utf-8 (a
 * charset in the encoding field, as many AMQP clients do); others send none
 * or identity, and kombu (Celery) says binary.
 */
const IDENTITY = new Set(['', 'identity', 'utf-8', 'utf8', 'binary', 'us-ascii', 'ascii', '7bit', '8bit']);

export type Inflated = { body: Buffer } | { reason: string };

function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  if (e?.code === 'ERR_BUFFER_TOO_LARGE') return `inflates to more than ${MAX_INFLATED_BYTES} bytes (decompression bomb?)`;
  return `is corrupt (${typeof e?.message === 'string' ? e.message : String(err)})`;
}

/** The body without its content encoding, or why it cannot be had. Never throws; the work is bounded by MAX_INFLATED_BYTES. */
export function removeContentEncoding(content: Buffer, contentEncoding: unknown): Inflated {
  const encoding = typeof contentEncoding === 'string' ? contentEncoding.trim().toLowerCase() : '';
  if (IDENTITY.has(encoding)) return { body: content };
  const opts = { maxOutputLength: MAX_INFLATED_BYTES };
  try {
    if (encoding === 'gzip' || encoding === 'x-gzip') return { body: zlib.gunzipSync(content, opts) };
    if (encoding === 'deflate') {
      // HTTP's deflate is zlib-wrapped, but some clients send raw deflate: accept both
      try {
        return { body: zlib.inflateSync(content, opts) };
      } catch (err) {
        if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') throw err;
        return { body: zlib.inflateRawSync(content, opts) };
      }
    }
  } catch (err) {
    return { reason: `content_encoding ${encoding} body ${describe(err)}` };
  }
  return { reason: `unknown content_encoding "${encoding.slice(0, 100)}": the indexer reads gzip, x-gzip, deflate and uncompressed bodies` };
}
