/**
 * --data-stream: the name of a data stream (TYPE-DATASET-NAMESPACE) and the
 * namer that writes every document to it with data_stream.type/dataset/namespace.
 */
import { ErrorCodes, LogshipError } from './errors.js';
import type { IndexNamer } from './index-name.js';

const JSON_SPACE = new Set([' ', '\t', '\n', '\r']);

/**
 * Where the values of the top-level `key` of a JSON object text are (start,
 * end), without parsing the rest; a key spelled with escapes counts, a key
 * of a nested object does not.
 */
function topLevelValueSpans(text: string, key: string): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  let depth = 0;
  let valueStart = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      if (depth !== 1 || valueStart >= 0) continue;
      let j = i + 1;
      while (j < text.length && JSON_SPACE.has(text[j]!)) j++;
      if (text[j] !== ':') continue;
      const raw = text.slice(start, i + 1);
      if ((raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1)) !== key) continue;
      valueStart = j + 1;
      i = j;
      continue;
    }
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    if (valueStart >= 0 && ((c === ',' && depth === 1) || depth === 0)) {
      spans.push([valueStart, i]);
      valueStart = -1;
    }
  }
  return spans;
}

/**
 * A data stream's namer: every document goes to the stream and carries
 * data_stream.type/dataset/namespace (Elasticsearch maps them as
 * constant_keyword: a document with other values is refused, so an event's
 * own data_stream object is replaced).
 */
export function createDataStreamNamer(name: string): IndexNamer {
  const problem = validateDataStreamName(name);
  if (problem) throw new LogshipError(ErrorCodes.CONFIG_INVALID, `--data-stream "${name}" ${problem}`);
  const [type, dataset, namespace] = name.split('-') as [string, string, string];
  const fields = { type, dataset, namespace };
  const json = JSON.stringify(fields);
  return {
    nameFor: () => name,
    wildcard: name,
    dynamic: false,
    perDocument(doc) {
      // sources are one JSON object, edited as text: a parse and reserialization would round integers past 2^53
      const text = doc.source.trim();
      if (!text.startsWith('{') || !text.endsWith('}')) {
        const obj = JSON.parse(doc.source) as Record<string, unknown>;
        obj.data_stream = fields;
        doc.source = JSON.stringify(obj);
        return;
      }
      const spans = text.includes('data_stream') || text.includes('\\u') ? topLevelValueSpans(text, 'data_stream') : [];
      if (spans.length === 0) {
        doc.source = /^\{\s*\}$/.test(text) ? `{"data_stream":${json}}` : `${text.slice(0, -1)},"data_stream":${json}}`;
        return;
      }
      let out = text;
      for (const [start, end] of spans.reverse()) out = `${out.slice(0, start)}${json}${out.slice(end)}`;
      doc.source = out;
    },
  };
}

/**
 * Data stream names of the Elastic naming scheme, TYPE-DATASET-NAMESPACE
 * (logs-app-default): lowercase, dataset and namespace without "-", the whole
 * at most 100 bytes so backing indices (.ds-NAME-yyyy.MM.dd-000001) stay short.
 * A reason, or undefined when valid.
 */
export function validateDataStreamName(name: string): string | undefined {
  const parts = name.split('-');
  if (parts.length !== 3 || parts.some((p) => p.length === 0)) {
    return 'must be TYPE-DATASET-NAMESPACE, such as logs-app-default (dataset and namespace hold no "-")';
  }
  if (!/^[a-z0-9_.-]+$/.test(name)) return 'must hold only lowercase letters, digits, "_" and "." besides its two "-"';
  if (/^[._+]/.test(name)) return 'must not start with "." "_" or "+"';
  if (Buffer.byteLength(name) > 100) return 'must be at most 100 bytes';
  return undefined;
}
