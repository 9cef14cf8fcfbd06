/** The _bulk items the Elasticsearch double answers for a write that is not applied, in Elasticsearch 8's shapes. */

/** a _bulk item that was not written: its index, id, HTTP status and Elasticsearch's error object */
export function failedItem(index: string, id: string, status: number, error: Record<string, unknown>) {
  return { _index: index, _id: id, status, error };
}

/** 429: the item was rejected under load (the double's itemRate429 fault) */
export function rejectedItem(index: string, id: string) {
  return failedItem(index, id, 429, {
    type: 'es_rejected_execution_exception',
    reason: `rejected execution of coordinating operation [shard_detail=[${index}][0][P], shard_coordinating_and_primary_bytes=0, shard_operation_bytes=1024, shard_max_coordinating_and_primary_bytes=1024]`,
  });
}

/** 400: the document does not fit the mapping (the double's reject fault) */
export function parsingFailedItem(index: string, id: string) {
  return failedItem(index, id, 400, {
    type: 'document_parsing_exception',
    reason: `[1:42] failed to parse field [message] of type [text] in document with id '${id}'`,
    caused_by: { type: 'illegal_argument_exception', reason: 'the double rejects this document' },
  });
}

/** 409: a create of an id the index already holds */
export function conflictItem(index: string, id: string) {
  return failedItem(index, id, 409, {
    type: 'version_conflict_engine_exception',
    reason: `[${id}]: version conflict, document already exists (current version [1])`,
    index,
    shard: '0',
  });
}
