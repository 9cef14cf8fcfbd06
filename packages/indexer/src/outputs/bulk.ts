/**
 * The _bulk request builder and the bulk outcome table of docs/DESIGN.md:
 * 200/201 ok, 409 duplicate, 429/5xx retry, other 4xx reject (dead-letter).
 */
import type { Document } from '../decode/decode.js';
import type { ItemOutcome } from './output.js';

/** `{"create":{"_index":"<index>"` for an index name: the part of an action line shared by a run of documents */
function createPrefix(index: string): string {
  return `{"create":{"_index":${JSON.stringify(index)}`;
}

/** printable ASCII without a quote or a backslash: JSON.stringify would only add the quotes */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** the id as a JSON string: logship's hex ids (and most others) need no escaping, and skip JSON.stringify */
function jsonId(id: string): string {
  return PLAIN.test(id) ? `"${id}"` : JSON.stringify(id);
}

/**
 * NDJSON body of `create` actions, as bytes. The index comes from the
 * configured pattern and the id is JSON-encoded, and every source is one line
 * of JSON, so no event can add or change an action. The body is written into
 * one buffer of its exact size (bulkItemBytes): a source kept as bytes is
 * copied as it is, and no string of the whole body is made. `bytes` is that
 * size when the caller already measured each document (the batcher does, as
 * it queues them); otherwise they are measured here.
 */
export function buildBulkBody(docs: readonly Document[], bytes?: number): Buffer {
  let total = bytes ?? 0;
  if (bytes === undefined) for (const d of docs) total += bulkItemBytes(d);
  const body = Buffer.allocUnsafe(total);
  let at = 0;
  // documents of a batch mostly share their index: encode its name once per run of equal names
  let index: string | null = null;
  let create = '';
  // a count short by a few bytes can cut only the last source, at a character: checked below
  let lastText: string | undefined;
  let lastTextBytes = 0;
  for (const d of docs) {
    if (d.index !== index) {
      index = d.index;
      create = createPrefix(index);
    }
    at += body.write(create, at);
    if (d.id !== undefined) {
      at += body.write(',"_id":', at, 'latin1');
      at += body.write(jsonId(d.id), at);
    }
    at += body.write('}}\n', at, 'latin1');
    const raw = d.raw;
    if (raw === undefined) {
      lastText = d.source;
      lastTextBytes = body.write(lastText, at);
      at += lastTextBytes;
    } else {
      lastText = undefined;
      at += raw.copy(body, at);
    }
    body[at++] = 0x0a;
  }
  // bulkItemBytes counts exactly what is written (a test checks it against the text): a short count would cut a
  // source. Only the last one can be cut, and Buffer.write stops before a character that does not fit whole, which
  // a newline could make up for: its bytes are checked too
  const cut = lastText !== undefined && Buffer.byteLength(lastText) !== lastTextBytes;
  if (at !== total || cut) throw new Error(`bulk body of ${total} bytes measured, ${at} written${cut ? ' (its last source cut)' : ''}`);
  return body;
}

/** the last index measured, and the UTF-8 bytes of its action prefix (documents come in runs of one index) */
let measuredIndex: string | null = null;
let measuredPrefixBytes = 0;

/**
 * The exact number of bytes a document adds to a bulk body: its action line,
 * its source (UTF-8, not UTF-16 code units) and the newline after it. The
 * sum over a batch is the length of buildBulkBody(batch).
 */
export function bulkItemBytes(doc: Document): number {
  if (doc.index !== measuredIndex) {
    measuredIndex = doc.index;
    measuredPrefixBytes = Buffer.byteLength(createPrefix(doc.index));
  }
  const id = doc.id;
  // a plain id is ASCII: one byte per character, plus its two quotes
  const idPart = id === undefined ? 0 : (PLAIN.test(id) ? id.length + 2 : Buffer.byteLength(JSON.stringify(id))) + ',"_id":'.length;
  const raw = doc.rawLength;
  // prefix + [,"_id":<id>] + }}\n + source + \n
  return measuredPrefixBytes + idPart + 3 + (raw === undefined ? Buffer.byteLength(doc.source) : raw) + 1;
}

interface BulkItem {
  status?: number;
  error?: { type?: string; reason?: string; caused_by?: { type?: string; reason?: string } };
}

/** the outcomes without details, shared (a bulk of thousands allocates none for them) */
const OK: ItemOutcome = Object.freeze({ kind: 'ok' });
const DUPLICATE: ItemOutcome = Object.freeze({ kind: 'duplicate' });

export function classifyItem(item: BulkItem | undefined): ItemOutcome {
  const status = item?.status;
  if (status === undefined) return { kind: 'retry', status: undefined, reason: 'no item in the bulk response' };
  if (status >= 200 && status < 300) return OK;
  if (status === 409) return DUPLICATE;
  const type = item?.error?.type ?? 'unknown_error';
  const cause = item?.error?.caused_by?.reason;
  const reason = `${item?.error?.reason ?? `HTTP ${status}`}${cause ? ` (caused by: ${cause})` : ''}`;
  if (status === 429 || status >= 500) return { kind: 'retry', status, reason: `${type}: ${reason}` };
  return { kind: 'reject', status, type, reason };
}

export function classifyResponse(docs: readonly Document[], response: { errors?: boolean; items?: Array<Record<string, BulkItem>> }): ItemOutcome[] {
  const items = response.items ?? [];
  if (response.errors === false && items.length === docs.length) return docs.map(() => OK);
  return docs.map((_d, i) => {
    const wrapper = items[i];
    return classifyItem(wrapper ? (wrapper.create ?? wrapper.index ?? Object.values(wrapper)[0]) : undefined);
  });
}
