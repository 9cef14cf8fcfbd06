/** --help texts, generated from the one option schema. */
import { OPTIONS, envName, flagName, optionsFor, type CommandName, type OptionKey, type OptionSpec } from '@logship/common';

export interface CommandInfo {
  name: CommandName;
  usage: string;
  summary: string;
  details: string;
}

export const COMMAND_INFO: Record<string, CommandInfo> = {
  bootstrap: {
    name: 'bootstrap',
    usage: 'logship bootstrap [--check] [options]',
    summary: 'declare (or only verify) the exchanges, queues, bindings and index template, in order',
    details:
      'Declares, in this order: the dead-letter exchange, the dead-letter queue and its binding, the main\n' +
      'exchange (durable, direct), the main queue (durable, not auto-delete, dead letters to the DLX), its\n' +
      'binding, then on Elasticsearch the ILM policy (--ilm-policy, --retention), the component templates\n' +
      'NAME-mappings and NAME-settings and the index template NAME (--template-name): for the daily indices\n' +
      'of --index, or a data stream template (data_stream: {}) for --data-stream. Safe to run again. With\n' +
      '--data-stream the policy rolls over at 50gb per primary shard or 1d, and deletes --retention after\n' +
      'rollover; with daily indices it only deletes, --retention after the index was created.\n' +
      'Run it before the first shipper:\n' +
      'messages published while no queue is bound are lost by the broker.\n' +
      'With --queue-type quorum both queues get x-quorum-initial-group-size (--quorum-group-size), and the\n' +
      'main queue x-delivery-limit (--delivery-limit: a message given back more often is dead-lettered by\n' +
      'the broker, x-death reason delivery_limit) and at-least-once dead-lettering (x-dead-letter-strategy,\n' +
      'with the x-overflow reject-publish it needs); --check verifies them, and reports the current members\n' +
      'of a quorum queue as unknown (not visible over AMQP: rabbitmq-queues quorum_status QUEUE).\n' +
      'With --check nothing is declared: exit 1 names what is missing or declared differently. An existing\n' +
      'exchange or queue is verified (type, durability, x-queue-type, dead-letter exchange) by declaring it\n' +
      'again with the expected settings, which the broker refuses when they differ (needs the configure\n' +
      'permission; without it the object is reported as existing, unverified). Bindings cannot be\n' +
      'verified over AMQP 0-9-1 without side effects and are reported as such. The ILM policy, component\n' +
      'and index templates are verified, and --check says whether the --pipeline exists.\n' +
      'With --kibana-url, last: a Kibana data view of the --index wildcard or the --data-stream, time\n' +
      'field @timestamp, id derived from the space and the pattern ("created", or "exists" next time);\n' +
      '--check verifies it. Kibana down or refusing is exit 1, like Elasticsearch; bootstrap is safe\n' +
      'to run again. --es-node may list the nodes of one cluster: http://es1:9200,http://es2:9200.',
  },
  ship: {
    name: 'ship',
    usage: 'logship ship [-] [options] < input   |   logship ship FILE|GLOB ... [--follow] [options]',
    summary: 'read stdin or files and publish each line as an event (persistent, confirmed, mandatory)',
    details:
      'Each line becomes one event with a deterministic event.id. Empty lines are skipped (counted); a\n' +
      'trailing \\r is removed; lines longer than --max-line-bytes are truncated and tagged _truncated.\n' +
      'Exits 0 only when every event was confirmed by the broker; a one-line summary goes to stderr.\n' +
      'If the broker returns events (no queue bound), ship stops and exits 1: run logship bootstrap first.\n' +
      'Files are read from their checkpoint in --state-dir (confirmed offsets, kept across restarts and\n' +
      'kill -9); --follow tails them through rename and copytruncate rotation and picks up new files\n' +
      'matching the globs. Quote globs so the shell does not expand them: logship ship "/var/log/app/*.log".',
  },
  index: {
    name: 'index',
    usage: 'logship index [options]',
    summary: 'run an indexer worker: consume the queue, bulk-write to Elasticsearch, ack what was written',
    details:
      'Any number of workers may share the queue. A delivery is acked only after every event in it was\n' +
      'written (201), found already written (409), or dead-lettered with its reason (other 4xx). 429, 5xx\n' +
      'and connection errors are retried with backoff, only for the failed items. SIGTERM/SIGINT: stop\n' +
      'consuming, flush, settle every delivery, exit 0. Serves /metrics and /health on --metrics-port.\n' +
      "Indices can be named from event fields: --index 'logship-%{[service][name]:other}-%{+yyyy.MM.dd}'\n" +
      'writes each event to the index of its service.name, lowercased and reduced to a-z 0-9 _ -, or\n' +
      'to logship-other-... when the field is missing; bootstrap with the same --index covers logship-*-*.\n' +
      'The text before the first %{ must end in -, _ or . (logship-). Avoid logs-: logs-*-* are the\n' +
      "data streams of Elastic Agent, Fleet and Beats 8, which logship's template would take over.",
  },
  status: {
    name: 'status',
    usage: 'logship status [--json] [--skip-elasticsearch]',
    summary: 'queue depth, consumers, dead letters, Elasticsearch health and document count',
    details:
      'Reads the main queue (messages ready, consumers) and the dead-letter queue passively, asks\n' +
      'Elasticsearch for cluster health and the document count of the --index pattern. A table by\n' +
      'default, JSON with --json. Exits 1 when the broker, a queue or Elasticsearch is down (or red).',
  },
  monitor: {
    name: 'monitor',
    usage: 'logship monitor --targets URL,URL,... [--port P]',
    summary: 'scrape many workers: one /metrics with instance labels and totals, /health, and a dashboard',
    details:
      'Scrapes each target /metrics (timeout --scrape-timeout per target) and re-exposes every series\n' +
      'with an instance label, up{instance} (0 for a dead target, the scrape still succeeds), cluster\n' +
      'totals (logship_cluster_*) and queue figures read over AMQP (logship_queue_messages_ready,\n' +
      'logship_queue_consumers, logship_dead_letter_messages). / serves a self-refreshing dashboard.',
  },
  generate: {
    name: 'generate',
    usage: 'logship generate [--count N] [--rate N] [--level L] [--format F]   |   logship generate --serve [--port P]',
    summary: 'synthetic log lines to stdout, or an HTTP service that publishes them through the shipper',
    details:
      'Writes realistic lines (plain, json, nginx, syslog) to stdout for piping into logship ship.\n' +
      'With --serve: POST /generate {"count": N, "level": "info", "format": "plain"} publishes N events\n' +
      '(confirmed) and answers how many were published; GET / is a small page with a form; GET /health.',
  },
  dlq: {
    name: 'dlq',
    usage: 'logship dlq list [--limit N] [--json]   |   logship dlq replay [--limit N]',
    summary: 'inspect dead letters, or re-publish them to the main exchange after a fix',
    details:
      'list shows the dead letters (event id, error type, HTTP status, reason, first bytes) without\n' +
      'removing them. replay re-publishes them to --exchange (persistent, confirmed, mandatory) and\n' +
      'removes each from the dead-letter queue only after the broker confirmed its copy; by default it\n' +
      'replays the messages present when it starts, so events that fail again are not looped.',
  },
};

function describeDefault(key: OptionKey): string {
  const s = OPTIONS[key] as OptionSpec;
  if (s.sensitive) return '';
  if (key === 'metricsPort') return '';
  if (s.default === '' || s.default === false || s.default === null) return '';
  return ` (default: ${String(s.default)})`;
}

export function commandHelp(command: CommandName): string {
  const info = COMMAND_INFO[command];
  const lines: string[] = [];
  if (info) lines.push(`Usage: ${info.usage}`, '', `${info.summary}.`, '', info.details, '');
  lines.push('Options (flag, environment variable; also keys of the --config JSON file):');
  const keys = optionsFor(command);
  const rows = keys.map((k) => {
    const s = OPTIONS[k] as OptionSpec;
    const flag = `--${flagName(k)}${s.arg ? ` ${s.arg}` : ''}`;
    return { flag, env: envName(k), doc: `${s.doc}${describeDefault(k)}` };
  });
  rows.push({ flag: '--config FILE', env: '', doc: 'JSON file of options (camelCase keys); flags and env override it' });
  rows.push({ flag: '-h, --help', env: '', doc: 'this help' });
  const width = Math.max(...rows.map((r) => r.flag.length));
  for (const r of rows) {
    lines.push(`  ${r.flag.padEnd(width)}  ${r.doc}${r.env ? `  [${r.env}]` : ''}`);
  }
  lines.push('', 'Switches: --flag, --flag=false or --no-flag; in variables and the config file: true/false, 1/0, yes/no, on/off.');
  lines.push('Secrets may also come from files: LOGSHIP_<OPTION>_FILE (Docker secrets).');
  lines.push('Exit codes: 0 done, 1 runtime failure (says what was not delivered), 2 bad usage or configuration.');
  return `${lines.join('\n')}\n`;
}

export function globalHelp(): string {
  const width = Math.max(...Object.keys(COMMAND_INFO).map((c) => c.length));
  const cmds = Object.values(COMMAND_INFO).map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'logship: ship log lines through RabbitMQ into Elasticsearch, with no lost and no duplicated events.',
    '',
    'Usage: logship <command> [options]',
    '',
    'Commands:',
    ...cmds,
    '',
    'Run "logship <command> --help" for the options of a command.',
    'Typical start: logship bootstrap && logship index & some-program | logship ship',
    '',
  ].join('\n');
}
