/**
 * @logship/common: what every command shares. The Elasticsearch helpers have
 * their own entry point (@logship/common/elasticsearch), so that commands
 * without Elasticsearch (ship, generate) do not load the client.
 */
export { ErrorCodes, ExitCodes, LogshipError, errorMessage, isLogshipError, type ErrorCode } from './errors.js';
export { MAX_PREFETCH, MIN_RETENTION_MS, formatBytes, formatEsDuration, parseBytes, parseDuration, parseRetention } from './units.js';
export { createLogger, maskUrl, scrubConfigSecrets, scrubSecrets, type Logger, type SecretSettings } from './logger.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';

// events and the wire format
export { IsoClock, createEvent, eventId, eventIdPrefix, isObject, normaliseTimestamp, sequenceEventId, type LogEvent, type NewEventInput } from './event.js';
export { TAG_TIMESTAMP_FAILURE } from './event-fields.js';
export { parseEventTimestamp } from './timestamp.js';
export {
  AFTER_TIMESTAMP,
  AGENT_VERSION,
  BEFORE_ID,
  END,
  HEAD,
  JSON_CONTENT_TYPE,
  NDJSON_CONTENT_TYPE,
  afterIdFragment,
  logFragment,
  ownEvent,
  previousPublishProperties,
  publishProperties,
  scanOwnLayout,
  tailFragment,
  type OwnLayout,
  type PublishProperties,
} from './wire-format.js';
export { MAX_NESTING_DEPTH, excessDepth, nestingDepth, tooDeepReason } from './json-depth.js';

// index names
export {
  DATE_TOKENS,
  TOKEN_LIST,
  createIndexNamer,
  dataStreamIndexProblem,
  hasFieldReference,
  namerFor,
  validateIndexPattern,
  type IndexNamer,
} from './index-name.js';
export { createDataStreamNamer, validateDataStreamName } from './data-stream-name.js';
export { FIELD_FALLBACK, FIELD_VALUE_MAX, fieldValue, parseFieldRef, sanitiseFieldValue } from './index-fields.js';

// metrics, health, shutdown
export { Registry, createIndexerMetrics, createRegistry, createShipperMetrics, type IndexerMetrics, type ShipperMetrics } from './metrics.js';
export { startHttpServer, type Health, type HealthStatus, type HttpServerOptions, type Route, type RouteResponse, type RunningServer } from './http/server.js';
export { handleShutdownSignals, type ShutdownHandle, type ShutdownOptions } from './shutdown.js';

// options
export { OPTIONS, envName, flagName, optionsFor, type CommandName, type Config, type OptionKey, type OptionSpec } from './config/schema.js';
export { defaultConfig, loadCommandLine, type LoadedCommandLine } from './config/load.js';

// RabbitMQ
export {
  connectOnce,
  describeConnectError,
  type AmqpSettings,
  type Channel,
  type ChannelModel,
  type ConfirmChannel,
  type ConsumeMessage,
  type Message,
} from './amqp/connection.js';
export { AmqpConnection, connectRecovering, type AmqpConnectionOptions, type RecoveringChannelModel } from './amqp/amqp-connection.js';
export { amqpNodes } from './amqp/node-list.js';
export { COMPACT_AFTER, compactFifo } from './fifo.js';
export { ChannelKeeper, type ChannelKeeperOptions } from './amqp/channel-keeper.js';
export { brokerReplyCode, isBrokerAccessRefused, isBrokerNotFound, translateBrokerError, type ObjectRef } from './amqp/broker-errors.js';
export {
  checkTopology,
  declareTopology,
  queueArguments,
  requireExchange,
  requireQueue,
  topologySteps,
  type ChannelFactory,
  type CheckResult,
  type TopologySettings,
  type TopologyStep,
} from './amqp/topology.js';
