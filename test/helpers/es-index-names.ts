/** Elasticsearch 8's rules for the name of an index it creates, which the double enforces on writes. */
import { failedItem } from './es-bulk-items.js';

/**
 * Why Elasticsearch 8 refuses to create an index of this name, in its words
 * (MetadataCreateIndexService.validateIndexOrAliasName and validateIndexName),
 * or undefined when it accepts it.
 */
export function invalidIndexName(name: string): string | undefined {
  if (/[\\/*?"<>| ,]/.test(name)) return `must not contain the following characters ['\\','/','*','?','"','<','>','|',' ',',']`;
  if (name === '') return 'must not be empty';
  if (name.includes('#')) return "must not contain '#'";
  if (name.includes(':')) return "must not contain ':'";
  if (/^[-_+]/.test(name)) return "must not start with '_', '-', or '+'";
  const bytes = Buffer.byteLength(name);
  if (bytes > 255) return `index name is too long, (${bytes} > 255)`;
  if (name === '.' || name === '..') return "must not be '.' or '..'";
  if (name.toLowerCase() !== name) return 'must be lowercase';
  return undefined;
}

/** the bulk item Elasticsearch answers for a write to an index it cannot create under that name */
export function invalidIndexNameItem(index: string, id: string) {
  const reason = `Invalid index name [${index}], ${invalidIndexName(index)}`;
  return failedItem(index, id, 400, { type: 'invalid_index_name_exception', reason, index_uuid: '_na_', index });
}
