/**
 * @logship/indexer: `logship index` by stage. consume/ takes deliveries from
 * the queue and owns their ack state (the ledger) and the prefetch window;
 * decode/ turns a delivery into documents or a poison reason; batch/ groups
 * documents into bulks, runs them and settles each delivery; outputs/ writes
 * them (Elasticsearch, NDJSON) and dead-letters what cannot be written;
 * admin/ is `logship dlq` (list and replay the dead-letter queue).
 */
export { Indexer, createOutput, type IndexerOptions } from './indexer.js';

export { ACK_HOLD_MS, Consumer, type ChannelSource, type ConsumerOptions, type DeliverySink } from './consume/consumer.js';
export { DeliveryLedger, newDelivery, type AckWire, type Delivery, type DeliveryState } from './consume/delivery-ledger.js';
export { FIRST_WINDOW, PrefetchWindow, holdFor, type HoldLimits } from './consume/prefetch-window.js';

export {
  MAX_INFLATED_BYTES,
  decodeDelivery,
  ownEvent,
  scanOwnLayout,
  type Decoded,
  type Document,
  type MessageLike,
  type Poison,
} from './decode/decode.js';

export { BatchProcessor, QUIET_FLUSH_MS, type ProcessorOptions } from './batch/processor.js';

export type { ItemOutcome, Output } from './outputs/output.js';
export { buildBulkBody, bulkItemBytes, classifyItem, classifyResponse } from './outputs/bulk.js';
// the Elasticsearch output (and the official client it loads) has its own entry point,
// @logship/indexer/elasticsearch, so that loading the indexer does not load the client
export { FileOutput, StreamOutput } from './outputs/ndjson.js';
export {
  DLQ_HEADERS,
  DeadLetterPublisher,
  MAX_DEAD_LETTER_BYTES,
  REFUSED_DEAD_LETTER_BYTES,
  isSizeRefusal,
  type DeadLetterProperties,
  type DeadLetterReason,
} from './outputs/dead-letter.js';

export {
  listDeadLetters,
  replayDeadLetters,
  replayWindow,
  translateAmqpFailure,
  viewDeadLetter,
  type DeadLetterListing,
  type DeadLetterView,
  type DlqSettings,
  type ReplayOptions,
  type ReplayResult,
} from './admin/dlq-admin.js';
