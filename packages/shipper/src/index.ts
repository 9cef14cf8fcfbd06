/**
 * @logship/shipper: `logship ship` by stage. inputs/ reads bytes (stdin,
 * files with checkpoints, the generator's lines); lines/ bounds them and
 * splits them into lines (joined by multiline); events/ builds the event of
 * a line; publish/ packs events into messages and publishes them confirmed.
 */
export { openStdin } from './inputs/stdin.js';
export { StreamShipper, type StreamShipperOptions } from './inputs/stream-shipper.js';
export { FileShipper, type FileProgress, type FileShipperOptions } from './inputs/files/file-shipper.js';
export { ConfirmedOffset } from './inputs/files/confirmed-offset.js';
export { mergeFileMeta, type FileMeta } from './inputs/files/file-input.js';
export { FINGERPRINT_BYTES, checkStart, fingerprint, type Fingerprint } from './inputs/files/identity.js';
export { StateStore, type CheckpointHealth, type FileState } from './inputs/files/state-store.js';
export { TailStream, type TailEnd, type TailOptions } from './inputs/files/tail-stream.js';
export { LineGenerator, type GenFormat, type GenLevel } from './inputs/line-generator.js';

export { LineClamp, utf8Boundary, type LineMeta } from './lines/line-clamp.js';
export { LineSplitter, type OnLine } from './lines/line-splitter.js';
export { MultilineJoiner, type JoinedEvent, type MultilineOptions, type PhysicalLine } from './lines/multiline.js';

export { MAX_JSON_DEPTH, TAG_JSON_FAILURE, TAG_JSON_TOO_DEEP, TAG_TRUNCATED, eventFromLine, type Codec, type LineContext } from './events/codec.js';
export { EventFactory, type EventFactoryOptions, type SerializedEvent } from './events/event-factory.js';
export { EventWriter, type EventWriterOptions } from './events/event-writer.js';

export { MessageEncoder } from './publish/message-encoder.js';
export { ConfirmWindow, NACK_BACKOFF, NACK_BUDGET_MS, type OutgoingMessage, type Outcome } from './publish/confirm-window.js';
export { Publisher, type PublisherClock, type PublisherOptions } from './publish/publisher.js';
export { ShipSession, formatSummary, notDelivered, publisherOptions, type SessionOptions, type ShipSummary } from './publish/ship-session.js';

export { checkShipOptions, shipMultiline, type ShipMultiline } from './ship-options.js';
export { renderProgress, startProgress, type ProgressSource } from './progress.js';
