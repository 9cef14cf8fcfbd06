/**
 * Loads the configuration of one command: defaults < --config file < LOGSHIP_*
 * environment < flags, validated strictly by the convict schema. Every problem
 * is a LogshipError(CONFIG_INVALID) naming the flag, variable or key at fault.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import convict from 'convict';
import { ErrorCodes, LogshipError, errorMessage } from '../errors.js';
import { validateIndexPattern } from '../index-name.js';
import { maskUrl } from '../logger.js';
import { parseBooleanWord, registerFormats } from './formats.js';
import { OPTIONS, envName, flagName, keyFromAnySpelling, optionsFor, type CommandName, type Config, type OptionKey, type OptionSpec } from './schema.js';

export interface LoadedCommandLine {
  config: Config;
  positionals: string[];
  help: boolean;
}

/** Environment variables that are not options but are allowed (test hooks). */
const RESERVED_ENV = /^LOGSHIP_TEST_/;

function invalid(message: string, hint?: string): LogshipError {
  return new LogshipError(ErrorCodes.CONFIG_INVALID, message, hint === undefined ? {} : { hint });
}

function spec(key: OptionKey): OptionSpec {
  return OPTIONS[key] as OptionSpec;
}

/** options read with the 'bool' format (true/false/1/0/yes/no/on/off), never convict's Boolean (LOGSHIP_FOLLOW=0 was true) */
function isBoolean(key: OptionKey): boolean {
  return spec(key).format === 'bool';
}

function closest(name: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestScore) {
      bestScore = d;
      best = c;
    }
  }
  return bestScore <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

/** Where a value came from, to name it in a message the way the user wrote it. */
type Source = { kind: 'flag'; raw: unknown } | { kind: 'env'; name: string; raw: unknown } | { kind: 'file'; name: string; file: string; raw: unknown };

interface ParsedFlags {
  values: Map<OptionKey, string | boolean>;
  positionals: string[];
  config: string | undefined;
  help: boolean;
}

/**
 * What node's parseArgs cannot say: a boolean flag with a value (--follow=false,
 * --follow=0) or negated (--no-follow), and a string option whose value starts
 * with "-" like a negative number (--prefetch -1, which parseArgs calls ambiguous).
 */
function preprocessArgv(argv: string[], booleans: Map<string, OptionKey>, strings: Set<string>, out: Map<OptionKey, string | boolean>): string[] {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      args.push(...argv.slice(i));
      break;
    }
    const m = /^--([^=]+)(?:=([\s\S]*))?$/.exec(arg);
    if (!m) {
      args.push(arg);
      continue;
    }
    const [, name, value] = m;
    const negated = name!.startsWith('no-') ? booleans.get(name!.slice(3)) : undefined;
    if (negated && value === undefined) {
      out.set(negated, false);
      continue;
    }
    const bool = booleans.get(name!);
    if (bool && value !== undefined) {
      const parsed = parseBooleanWord(value);
      if (typeof parsed !== 'boolean') throw invalid(`option --${name} must be true or false (also 1/0, yes/no, on/off), not "${value}"`);
      out.set(bool, parsed);
      continue;
    }
    const next = argv[i + 1];
    if (strings.has(name!) && value === undefined && next !== undefined && /^-\.?\d/.test(next)) {
      args.push(`--${name}=${next}`);
      i++;
      continue;
    }
    args.push(arg);
  }
  return args;
}

function parseFlags(command: CommandName, argv: string[]): ParsedFlags {
  const allowed = optionsFor(command);
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  };
  const byFlag = new Map<string, OptionKey>();
  const booleans = new Map<string, OptionKey>();
  const strings = new Set<string>(['config']);
  for (const key of allowed) {
    const flag = flagName(key);
    byFlag.set(flag, key);
    options[flag] = { type: isBoolean(key) ? 'boolean' : 'string' };
    if (isBoolean(key)) booleans.set(flag, key);
    else strings.add(flag);
  }
  const values = new Map<OptionKey, string | boolean>();
  let parsed: ReturnType<typeof parseArgs<{ options: typeof options; strict: true; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: preprocessArgv(argv, booleans, strings, values), options, strict: true, allowPositionals: true });
  } catch (err) {
    const msg = errorMessage(err);
    const unknown = /Unknown option '(-{1,2}[^']+)'/.exec(msg)?.[1];
    if (unknown) {
      const name = unknown.replace(/^-+/, '').split('=')[0]!;
      const key = keyFromAnySpelling(name.replace(/^no-/, ''));
      if (key) {
        throw invalid(`option --${flagName(key)} does not apply to "logship ${command}"`, `see: logship ${command} --help`);
      }
      const suggestion = closest(name, Object.keys(options));
      throw invalid(
        `unknown option ${unknown} for "logship ${command}"`,
        suggestion ? `did you mean --${suggestion}? see: logship ${command} --help` : `see: logship ${command} --help`,
      );
    }
    const missing = /Option '(-{1,2}[^']+?)(?: <value>)?' argument missing/.exec(msg)?.[1];
    if (missing) throw invalid(`option ${missing} needs a value`, `see: logship ${command} --help`);
    const ambiguous = /Option '(-{1,2}[^']+?)' argument is ambiguous/.exec(msg)?.[1];
    if (ambiguous) {
      throw invalid(
        `option ${ambiguous} needs a value, and the next argument starts with "-"`,
        `to give a value that starts with "-", write ${ambiguous}=VALUE; see: logship ${command} --help`,
      );
    }
    throw invalid(msg.split('\n')[0] ?? msg, `see: logship ${command} --help`);
  }
  for (const [name, value] of Object.entries(parsed.values)) {
    const key = byFlag.get(name);
    if (key && value !== undefined) values.set(key, value);
  }
  const config = parsed.values.config;
  return { values, positionals: parsed.positionals, config: typeof config === 'string' ? config : undefined, help: parsed.values.help === true };
}

/**
 * V8's JSON.parse message without any piece of the file: V8 quotes the text near
 * the error (`, "…" is not valid JSON`, shortened with `..."` in long files) and
 * the unexpected token, either of which may be part of a password. Only the words
 * before the quote are kept, and a position becomes line and column.
 */
function jsonSyntaxReason(message: string, text: string): string {
  // a double quote never belongs to V8's own words: cut there whatever the format
  const words = (message.split(/,?\s*(?:\.\.\.)?"/)[0] ?? '').replace(/\btoken '[^']*'/, 'token').trim();
  const position = /\bat position (\d+)/.exec(words);
  if (!position) return words;
  const before = text.slice(0, Number(position[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return words.replace(/\bat position \d+/, `at line ${line} column ${column}`);
}

function readConfigFile(file: string): { values: Record<string, unknown>; names: Map<OptionKey, string> } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw invalid(`cannot read config file ${file}: ${errorMessage(err)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalid(`config file ${file} is not valid JSON: ${jsonSyntaxReason(errorMessage(err), text)}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw invalid(`config file ${file} must hold a JSON object of options`);
  }
  const values: Record<string, unknown> = {};
  const names = new Map<OptionKey, string>();
  for (const [name, value] of Object.entries(parsed)) {
    const key = keyFromAnySpelling(name);
    if (!key || name.startsWith('LOGSHIP_')) {
      const suggestion = closest(name, Object.keys(OPTIONS));
      throw invalid(
        `unknown key "${name}" in config file ${file}`,
        suggestion ? `did you mean "${suggestion}"?` : 'keys are option names such as "amqpUrl" or "batchSize"',
      );
    }
    // convict coerces only strings: a bare number would reach --retention as milliseconds
    values[key] = spec(key).format === 'retention' && typeof value === 'number' ? String(value) : value;
    names.set(key, name);
  }
  return { values, names };
}

/** LOGSHIP_* variables, with *_FILE variants (Docker secrets) read from disk. */
function collectEnv(env: NodeJS.ProcessEnv): { values: Record<string, string>; names: Map<string, string> } {
  const known = new Map((Object.keys(OPTIONS) as OptionKey[]).map((k) => [envName(k), k]));
  const values: Record<string, string> = {};
  /** variable read for each option variable (LOGSHIP_X or LOGSHIP_X_FILE) */
  const names = new Map<string, string>();
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('LOGSHIP_') || value === undefined || RESERVED_ENV.test(name)) continue;
    if (known.has(name)) {
      values[name] = value;
      names.set(name, name);
      continue;
    }
    const base = name.endsWith('_FILE') ? name.slice(0, -5) : undefined;
    if (base && known.has(base)) {
      if (env[base] !== undefined) throw invalid(`both ${base} and ${name} are set; keep one`);
      try {
        values[base] = fs.readFileSync(value, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        throw invalid(`cannot read ${name}=${value}: ${errorMessage(err)}`);
      }
      names.set(base, name);
      continue;
    }
    const suggestion = closest(name, [...known.keys()]);
    throw invalid(
      `unknown environment variable ${name}`,
      suggestion ? `did you mean ${suggestion}?` : 'logship options are LOGSHIP_<OPTION> variables; see logship --help',
    );
  }
  return { values, names };
}

/** The option named as the user set it, then its other spellings. */
function describeSource(key: OptionKey, source: Source | undefined): string {
  const flag = `--${flagName(key)}`;
  const env = envName(key);
  if (source?.kind === 'env') return `${source.name} (${flag})`;
  if (source?.kind === 'file') return `"${source.name}" in config file ${source.file} (${flag}, ${env})`;
  return `${flag} (${env})`;
}

/** A value for an error message: never a sensitive one, URLs and anything user:password@ masked. */
function shownValue(key: OptionKey, source: Source | undefined): string {
  if (!source || spec(key).sensitive) return '';
  const text = typeof source.raw === 'string' ? source.raw : JSON.stringify(source.raw);
  return `: value was ${JSON.stringify(text.includes('@') ? maskUrl(text) : text)}`;
}

function buildSchema() {
  const schema: Record<string, unknown> = {};
  for (const key of Object.keys(OPTIONS) as OptionKey[]) {
    const s = spec(key);
    schema[key] = {
      doc: s.doc,
      format: s.format,
      default: s.default,
      env: envName(key),
      // convict must never print a value ("value was ..."): the loader shows it masked
      sensitive: true,
    };
  }
  return schema;
}

export function loadCommandLine(command: CommandName, argv: string[], env: NodeJS.ProcessEnv = process.env): LoadedCommandLine {
  registerFormats();
  const flags = parseFlags(command, argv);
  const file = flags.config === undefined ? undefined : { path: flags.config, ...readConfigFile(flags.config) };
  const fromEnv = collectEnv(env);

  const sources = new Map<OptionKey, Source>();
  for (const key of Object.keys(OPTIONS) as OptionKey[]) {
    const variable = fromEnv.names.get(envName(key));
    if (flags.values.has(key)) sources.set(key, { kind: 'flag', raw: flags.values.get(key) });
    else if (variable !== undefined) sources.set(key, { kind: 'env', name: variable, raw: fromEnv.values[envName(key)] });
    else if (file?.names.has(key)) sources.set(key, { kind: 'file', name: file.names.get(key)!, file: file.path, raw: file.values[key] });
  }

  let config: convict.Config<Record<string, unknown>>;
  try {
    // flags are set last, by key: convict's own argument parser (yargs) would turn "1e3" into "1000"
    config = convict(buildSchema() as convict.Schema<Record<string, unknown>>, { args: [], env: fromEnv.values });
    config.load(file?.values ?? {});
    for (const [key, value] of flags.values) config.set(key, value);
    config.validate({ allowed: 'strict' });
  } catch (err) {
    const lines = errorMessage(err).split('\n').filter(Boolean);
    const described = lines.map((line) => {
      const m = /^([A-Za-z]+): (.*)$/.exec(line);
      const key = m?.[1] as OptionKey | undefined;
      if (!m || !key || !(key in OPTIONS)) return line.includes('@') ? maskUrl(line) : line;
      return `${describeSource(key, sources.get(key))}: ${m[2]}${shownValue(key, sources.get(key))}`;
    });
    throw invalid(`invalid configuration: ${described.join('; ')}`, `see: logship ${command} --help`);
  }
  const loaded = config.getProperties() as unknown as Config;
  // --index given on the command line beside a data stream would be ignored: say so instead
  if (loaded.dataStream && sources.get('index')?.kind === 'flag' && optionsFor(command).includes('dataStream')) {
    throw invalid(
      `invalid configuration: --index and ${describeSource('dataStream', sources.get('dataStream'))} both say where documents go; a data stream replaces the index pattern`,
      'give one of them: --index for daily indices, or --data-stream for a data stream',
    );
  }
  // one LOGSHIP_INDEX is often shared by every service: only the commands that name indices with it
  // (and not with --data-stream, which replaces it) refuse a bad one
  if (optionsFor(command).includes('index') && !loaded.dataStream) {
    const problem = validateIndexPattern(loaded.index);
    if (problem) {
      throw invalid(
        `invalid configuration: ${describeSource('index', sources.get('index'))}: ${problem}${shownValue('index', sources.get('index'))}`,
        `see: logship ${command} --help`,
      );
    }
  }
  return {
    config: loaded,
    positionals: flags.positionals,
    help: flags.help,
  };
}

/** Default values, for help texts and tests. */
export function defaultConfig(): Config {
  return loadCommandLine('status', [], {}).config;
}
