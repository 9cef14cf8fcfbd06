/**
 * The one schema of every logship option. Each option is a flag (--kebab-case),
 * an environment variable (LOGSHIP_SNAKE_CASE) and a key of the --config JSON
 * file (camelCase; kebab-case and snake_case spellings are accepted too).
 */
import os from 'node:os';
import path from 'node:path';
import { TOKEN_LIST } from '../index-name.js';

export type CommandName = 'bootstrap' | 'ship' | 'index' | 'status' | 'monitor' | 'generate' | 'dlq';

export interface OptionSpec {
  /** convict format name ('bool': true/false/1/0/yes/no/on/off) or a list of allowed values */
  format: string | readonly string[] | StringConstructor;
  default: unknown;
  doc: string;
  /** commands that accept the flag; every command accepts it from env and file */
  commands: readonly CommandName[];
  /** value never printed: masked in logs and help */
  sensitive?: boolean;
  /** placeholder shown in --help */
  arg?: string;
}

const BROKER: CommandName[] = ['bootstrap', 'ship', 'index', 'status', 'monitor', 'generate', 'dlq'];
const TOPOLOGY: CommandName[] = ['bootstrap', 'ship', 'index', 'status', 'monitor', 'generate', 'dlq'];
const ES: CommandName[] = ['bootstrap', 'index', 'status'];
const HTTP: CommandName[] = ['ship', 'index', 'monitor', 'generate'];

function defaultStateDir(): string {
  const base = process.env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'logship');
}

export const OPTIONS = {
  amqpUrl: {
    format: 'amqp-url',
    default: 'amqp://guest:guest@127.0.0.1:5672/%2f',
    doc: 'RabbitMQ URL (amqp:// or amqps://), or the nodes of one cluster as a comma-separated list of URLs (each with its own credentials): a process uses one node, in a per-process shuffled order, and moves to the next that answers when it loses it; every password is masked in logs, /health and metrics',
    commands: BROKER,
    arg: 'URL',
  },
  amqpCa: { format: String, default: '', doc: 'PEM file of the CA that signed the broker certificate (amqps://)', commands: BROKER, arg: 'FILE' },
  amqpCert: { format: String, default: '', doc: 'PEM client certificate for amqps:// (with --amqp-key)', commands: BROKER, arg: 'FILE' },
  amqpKey: { format: String, default: '', doc: 'PEM private key of --amqp-cert', commands: BROKER, arg: 'FILE' },
  exchange: { format: 'name', default: 'logs', doc: 'durable direct exchange that shippers publish to', commands: TOPOLOGY, arg: 'NAME' },
  queue: { format: 'name', default: 'logs.indexer', doc: 'durable queue shared by every indexer', commands: TOPOLOGY, arg: 'NAME' },
  routingKey: { format: String, default: 'logs', doc: 'routing key of published events and of the queue binding', commands: TOPOLOGY, arg: 'KEY' },
  deadLetterExchange: {
    format: 'name',
    default: 'logs.dlx',
    doc: 'fanout exchange receiving events that can never be indexed',
    commands: TOPOLOGY,
    arg: 'NAME',
  },
  deadLetterQueue: { format: 'name', default: 'logs.dead', doc: 'queue holding dead-lettered events with their reason', commands: TOPOLOGY, arg: 'NAME' },
  queueType: {
    format: ['classic', 'quorum'],
    default: 'classic',
    doc: 'main queue type: classic, or quorum for clusters',
    commands: ['bootstrap'],
    arg: 'TYPE',
  },
  deliveryLimit: {
    format: 'positive-int',
    default: 20,
    doc: 'quorum queues: x-delivery-limit of the main queue; a message returned more often (nacked with requeue, or held by a consumer that died) goes to the dead-letter queue with x-death reason delivery_limit',
    commands: ['bootstrap'],
    arg: 'N',
  },
  quorumGroupSize: {
    format: 'positive-int',
    default: 3,
    doc: 'quorum queues: x-quorum-initial-group-size of both queues, the members each queue is created with (capped at the nodes in the cluster); bootstrap --check compares it',
    commands: ['bootstrap'],
    arg: 'N',
  },

  esNode: {
    format: 'http-url-list',
    default: 'http://127.0.0.1:9200',
    doc: 'Elasticsearch URL, or the nodes of one cluster as a comma-separated list of URLs (round-robin; a dead node is skipped until it answers a ping again); credentials in a URL are used for that node, and masked everywhere',
    commands: ES,
    arg: 'URL[,URL]',
  },
  esUsername: { format: String, default: '', doc: 'Elasticsearch basic-auth user', commands: ES, arg: 'USER' },
  esPassword: { format: String, default: '', doc: 'Elasticsearch basic-auth password', commands: ES, sensitive: true, arg: 'PASSWORD' },
  esApiKey: { format: String, default: '', doc: 'Elasticsearch API key (base64 id:key)', commands: ES, sensitive: true, arg: 'KEY' },
  esCa: { format: String, default: '', doc: 'PEM file of the CA that signed the Elasticsearch certificate (https://)', commands: ES, arg: 'FILE' },
  esCert: { format: String, default: '', doc: 'PEM client certificate for Elasticsearch (with --es-key)', commands: ES, arg: 'FILE' },
  esKey: { format: String, default: '', doc: 'PEM private key of --es-cert', commands: ES, arg: 'FILE' },
  esTimeout: { format: 'duration', default: '30s', doc: 'timeout of one Elasticsearch request', commands: ES, arg: 'DURATION' },
  esCompression: {
    format: 'bool',
    default: false,
    doc: 'gzip the bodies of requests to Elasticsearch (saves network bytes, costs indexer CPU)',
    commands: ES,
  },
  index: {
    format: 'index-pattern',
    default: 'logs-%{+yyyy.MM.dd}',
    doc:
      `index name, lowercase; %{+yyyy.MM.dd} expands from each event @timestamp in UTC (Joda tokens: ${TOKEN_LIST}); ` +
      '%{[service][name]} (or %{service.name}) from an event field, made safe (lowercase a-z 0-9 _ -, at most 100 characters), ' +
      '%{[service][name]:other} with a fallback for a missing, empty or non-text value (default: unknown); ' +
      'a pattern with a field starts with literal text ending in - _ or . (logship-%{[service][name]}-%{+yyyy.MM.dd}); not with --data-stream',
    commands: ES,
    arg: 'PATTERN',
  },
  templateName: {
    format: 'name',
    default: 'logship',
    doc: 'name of the Elasticsearch index template; its component templates are NAME-mappings and NAME-settings',
    commands: ['bootstrap', 'status'],
    arg: 'NAME',
  },
  dataStream: {
    format: 'data-stream-or-empty',
    default: '',
    doc: 'write to this data stream (logs-DATASET-NAMESPACE, e.g. logs-app-default) instead of --index; empty: daily indices of --index',
    commands: ES,
    arg: 'NAME',
  },
  ilmPolicy: {
    format: 'ilm-policy-or-empty',
    default: '',
    doc: 'bootstrap: ILM policy to install and attach to the template (data streams: rollover at 50gb primary shard or 1d); empty: none',
    commands: ['bootstrap'],
    arg: 'NAME',
  },
  retention: {
    format: 'retention',
    default: '0',
    doc: 'bootstrap: with --ilm-policy, delete indices this long after creation (data streams: after rollover): days or hours, at least 1h, e.g. 30d or 12h; 0: keep',
    commands: ['bootstrap'],
    arg: 'DURATION',
  },
  pipeline: {
    format: String,
    default: '',
    doc: 'ingest pipeline named on every bulk request (bootstrap --check says whether it exists); empty: none',
    commands: ['bootstrap', 'index'],
    arg: 'NAME',
  },
  kibanaUrl: {
    format: 'http-url-or-empty',
    default: '',
    doc: 'bootstrap: Kibana URL (a space as http://host:5601/s/SPACE); creates a data view of --index or --data-stream, and --check verifies it; logs in with the URL credentials, else --es-api-key or --es-username; empty: no data view',
    commands: ['bootstrap'],
    arg: 'URL',
  },

  output: {
    format: 'output',
    default: 'elasticsearch',
    doc: 'where the indexer writes: elasticsearch, stdout or file:PATH (NDJSON)',
    commands: ['index'],
    arg: 'OUTPUT',
  },
  prefetch: {
    format: 'prefetch',
    default: 3000,
    doc: 'unacknowledged deliveries an indexer may hold, 1-65535; fewer when messages carry several events: it holds about --bulk-concurrency + 2 batches (--batch-size events, --batch-bytes bytes); keep it at least --batch-size; lower it to share a small backlog more evenly between workers',
    commands: ['index'],
    arg: 'N',
  },
  batchSize: { format: 'positive-int', default: 500, doc: 'events per bulk request', commands: ['index'], arg: 'N' },
  batchBytes: { format: 'bytes', default: '5mb', doc: 'bytes per bulk request', commands: ['index'], arg: 'SIZE' },
  bulkConcurrency: {
    format: 'positive-int',
    default: 4,
    doc: 'bulk requests an indexer keeps in flight at once; a 429/5xx backs off all of them',
    commands: ['index'],
    arg: 'N',
  },
  flushInterval: {
    format: 'duration',
    default: '1s',
    doc: 'longest wait before a partial batch is written (indexer) or a partial multi-event message is sent (shipper)',
    commands: ['index', 'ship'],
    arg: 'DURATION',
  },
  retryBackoff: {
    format: 'duration',
    default: '200ms',
    doc: 'first retry delay after 429/5xx/connection errors (doubles, with jitter)',
    commands: ['index'],
    arg: 'DURATION',
  },
  retryMaxBackoff: { format: 'duration', default: '30s', doc: 'longest retry delay', commands: ['index'], arg: 'DURATION' },
  retryTimeout: {
    format: 'duration',
    default: '5m',
    doc: 'retry budget of an event; past it its delivery is nacked with requeue (keep well under the broker consumer_timeout)',
    commands: ['index'],
    arg: 'DURATION',
  },

  metricsPort: {
    format: 'port-or-null',
    default: null,
    doc: 'port of /metrics and /health (index: 9198; ship --follow: 9199; ship without --follow: off; 0 = any free port)',
    commands: HTTP,
    arg: 'PORT',
  },
  httpHost: { format: String, default: '127.0.0.1', doc: 'address the HTTP endpoints bind to (0.0.0.0 in containers)', commands: HTTP, arg: 'HOST' },

  eventsPerMessage: {
    format: 'positive-int',
    default: 1,
    doc: 'events per AMQP message; above 1 the body is NDJSON, each event keeping its own event.id',
    commands: ['ship', 'generate'],
    arg: 'N',
  },
  codec: {
    format: ['plain', 'json'],
    default: 'plain',
    doc: 'plain lines, or json (parse failures keep the line, tagged _jsonparsefailure)',
    commands: ['ship'],
    arg: 'CODEC',
  },
  maxLineBytes: { format: 'bytes', default: '1mb', doc: 'longer lines are truncated to this and tagged _truncated', commands: ['ship'], arg: 'SIZE' },
  maxInflight: {
    format: 'positive-int',
    default: 1000,
    doc: 'published messages awaiting a broker confirm before input is paused (dlq replay: copies awaiting a confirm, and letters held, at most 65535)',
    commands: ['ship', 'generate', 'dlq'],
    arg: 'N',
  },
  maxInflightBytes: {
    format: 'bytes',
    default: '8mb',
    doc: 'bytes of message bodies awaiting a broker confirm before input is paused (a message larger than this is still sent alone); bounds memory with --events-per-message: 8mb lets 100 events per message ship at full speed; 4mb ships about a tenth slower in about 10 MB less RSS',
    commands: ['ship', 'generate'],
    arg: 'SIZE',
  },
  nackTimeout: {
    format: 'duration',
    default: '60s',
    doc: 'how long a message the broker keeps nacking (a quorum queue electing a leader, a full queue with reject-publish) is re-published, with backoff, before it counts as failed; time without a connection does not count',
    commands: ['ship', 'generate'],
    arg: 'DURATION',
  },
  hostName: { format: String, default: os.hostname(), doc: 'host.name of shipped events', commands: ['ship', 'generate'], arg: 'NAME' },
  stateDir: { format: String, default: defaultStateDir(), doc: 'directory where file offsets (checkpoints) are kept', commands: ['ship'], arg: 'DIR' },
  follow: {
    format: 'bool',
    default: false,
    doc: 'keep tailing the files, pick up new ones matching the globs, serve /metrics and /health',
    commands: ['ship'],
  },
  startPosition: {
    format: ['beginning', 'end'],
    default: 'beginning',
    doc: 'where files without a checkpoint start when following: beginning, or end (only new lines)',
    commands: ['ship'],
    arg: 'WHERE',
  },
  scanInterval: { format: 'duration', default: '10s', doc: 'how often --follow looks for new files matching the globs', commands: ['ship'], arg: 'DURATION' },
  multilinePattern: {
    format: 'regex-or-empty',
    default: '',
    doc: 'regular expression marking lines that belong to another line (empty: one line, one event)',
    commands: ['ship'],
    arg: 'REGEX',
  },
  multilineNegate: { format: 'bool', default: false, doc: 'a line belongs to another when it does NOT match the pattern', commands: ['ship'] },
  multilineMatch: {
    format: ['after', 'before'],
    default: 'after',
    doc: 'after: matching lines join the line before them (stack traces); before: they join the next line',
    commands: ['ship'],
    arg: 'WHERE',
  },
  multilineMaxLines: {
    format: 'positive-int',
    default: 500,
    doc: 'lines in one multiline event; a longer group is cut into several events',
    commands: ['ship'],
    arg: 'N',
  },
  multilineTimeout: {
    format: 'duration',
    default: '5s',
    doc: 'when following, a pending multiline event is sent after this long without a new line',
    commands: ['ship'],
    arg: 'DURATION',
  },

  check: { format: 'bool', default: false, doc: 'verify the topology and the template without declaring anything', commands: ['bootstrap'] },
  skipElasticsearch: {
    format: 'bool',
    default: false,
    doc: 'bootstrap: only the AMQP side, not the index template; status: do not ask Elasticsearch',
    commands: ['bootstrap', 'status'],
  },

  targets: {
    format: String,
    default: '',
    doc: 'monitor: comma-separated worker URLs to scrape (http://host:9198, ...)',
    commands: ['monitor'],
    arg: 'URL,URL',
  },
  port: {
    format: 'port-or-null',
    default: null,
    doc: 'HTTP port of monitor (default 9197) or generate --serve (default 9196); 0 = any free port',
    commands: ['monitor', 'generate'],
    arg: 'PORT',
  },
  scrapeTimeout: {
    format: 'duration',
    default: '5s',
    doc: 'monitor: how long one target may take to answer its scrape',
    commands: ['monitor'],
    arg: 'DURATION',
  },
  scrapeInterval: {
    format: 'duration',
    default: '5s',
    doc: 'monitor: how often targets are scraped for the dashboard',
    commands: ['monitor'],
    arg: 'DURATION',
  },
  history: { format: 'duration', default: '15m', doc: 'monitor: how much history the dashboard keeps', commands: ['monitor'], arg: 'DURATION' },
  count: { format: 'nat', default: 0, doc: 'generate: lines to write (0: until stopped)', commands: ['generate'], arg: 'N' },
  rate: { format: 'nat', default: 0, doc: 'generate: lines per second (0: as fast as possible)', commands: ['generate'], arg: 'N' },
  level: {
    format: ['mixed', 'debug', 'info', 'warn', 'error'],
    default: 'mixed',
    doc: 'generate: log level of the lines (mixed: a realistic blend)',
    commands: ['generate'],
    arg: 'LEVEL',
  },
  format: { format: ['plain', 'json', 'nginx', 'syslog'], default: 'plain', doc: 'generate: line format', commands: ['generate'], arg: 'FORMAT' },
  serve: { format: 'bool', default: false, doc: 'generate: run as an HTTP service (POST /generate publishes through the shipper)', commands: ['generate'] },
  limit: { format: 'nat', default: 0, doc: 'dlq: messages to list (0: 20) or replay (0: all that are there now)', commands: ['dlq'], arg: 'N' },
  json: { format: 'bool', default: false, doc: 'print JSON instead of a table', commands: ['status', 'dlq'] },
  shutdownTimeout: {
    format: 'duration',
    default: '30s',
    doc: 'on SIGTERM/SIGINT, longest wait for in-flight work; then exit leaving unsettled deliveries to the broker',
    commands: ['ship', 'index'],
    arg: 'DURATION',
  },
  logLevel: {
    format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    default: 'info',
    doc: 'log level of the JSON log lines on stderr',
    commands: BROKER,
    arg: 'LEVEL',
  },
} as const satisfies Record<string, OptionSpec>;

export type OptionKey = keyof typeof OPTIONS;

export type { Config } from './config-type.js';

export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export function envName(key: string): string {
  return `LOGSHIP_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** camelCase key from a flag, env-ish or snake/kebab spelling; undefined if unknown. */
export function keyFromAnySpelling(name: string): OptionKey | undefined {
  const camel = name
    .replace(/^LOGSHIP_/, '')
    .toLowerCase()
    .replace(/[-_]([a-z])/g, (_m, c: string) => c.toUpperCase());
  return (Object.keys(OPTIONS) as OptionKey[]).find((k) => k.toLowerCase() === camel.toLowerCase());
}

export function optionsFor(command: CommandName): OptionKey[] {
  return (Object.keys(OPTIONS) as OptionKey[]).filter((k) => (OPTIONS[k].commands as readonly string[]).includes(command));
}
