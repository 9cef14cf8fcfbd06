/**
 * Loads the configuration of one command: defaults < --config file < LOGSHIP_*
 * environment < flags, validated strictly by the convict schema. Every problem
 * is a LogshipError(CONFIG_INVALID) naming the flag, variable or key at fault.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import convict from 'convict';
import { ErrorCodes, LogshipError, errorMessage } from '../errors.js';
import { registerFormats } from './formats.js';
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

function isBoolean(key: OptionKey): boolean {
  return spec(key).format === Boolean;
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

function parseFlags(command: CommandName, argv: string[]) {
  const allowed = optionsFor(command);
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  };
  for (const key of allowed) options[flagName(key)] = { type: isBoolean(key) ? 'boolean' : 'string' };
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (err) {
    const msg = errorMessage(err);
    const unknown = /Unknown option '(-{1,2}[^']+)'/.exec(msg)?.[1];
    if (unknown) {
      const name = unknown.replace(/^-+/, '').split('=')[0]!;
      const key = keyFromAnySpelling(name);
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
    throw invalid(msg.split('\n')[0] ?? msg, `see: logship ${command} --help`);
  }
}

function readConfigFile(file: string): Record<string, unknown> {
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
    throw invalid(`config file ${file} is not valid JSON: ${errorMessage(err)}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw invalid(`config file ${file} must hold a JSON object of options`);
  }
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(parsed)) {
    const key = keyFromAnySpelling(name);
    if (!key || name.startsWith('LOGSHIP_')) {
      const suggestion = closest(name, Object.keys(OPTIONS));
      throw invalid(
        `unknown key "${name}" in config file ${file}`,
        suggestion ? `did you mean "${suggestion}"?` : 'keys are option names such as "amqpUrl" or "batchSize"',
      );
    }
    out[key] = value;
  }
  return out;
}

/** LOGSHIP_* variables, with *_FILE variants (Docker secrets) read from disk. */
function collectEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const known = new Map((Object.keys(OPTIONS) as OptionKey[]).map((k) => [envName(k), k]));
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('LOGSHIP_') || value === undefined || RESERVED_ENV.test(name)) continue;
    if (known.has(name)) {
      out[name] = value;
      continue;
    }
    const base = name.endsWith('_FILE') ? name.slice(0, -5) : undefined;
    if (base && known.has(base)) {
      if (env[base] !== undefined) throw invalid(`both ${base} and ${name} are set; keep one`);
      try {
        out[base] = fs.readFileSync(value, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        throw invalid(`cannot read ${name}=${value}: ${errorMessage(err)}`);
      }
      continue;
    }
    const suggestion = closest(name, [...known.keys()]);
    throw invalid(
      `unknown environment variable ${name}`,
      suggestion ? `did you mean ${suggestion}?` : 'logship options are LOGSHIP_<OPTION> variables; see logship --help',
    );
  }
  return out;
}

function describeKey(key: string): string {
  const k = key as OptionKey;
  if (!(k in OPTIONS)) return `"${key}"`;
  return `--${flagName(k)} (${envName(k)})`;
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
      arg: flagName(key),
      ...(s.sensitive ? { sensitive: true } : {}),
    };
  }
  return schema;
}

export function loadCommandLine(command: CommandName, argv: string[], env: NodeJS.ProcessEnv = process.env): LoadedCommandLine {
  registerFormats();
  const parsed = parseFlags(command, argv);
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const args: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    if (name === 'config' || name === 'help' || value === undefined) continue;
    args.push(`--${name}=${String(value)}`);
  }
  const fileValues = typeof values.config === 'string' ? readConfigFile(values.config) : {};
  const envValues = collectEnv(env);

  let config: convict.Config<Record<string, unknown>>;
  try {
    config = convict(buildSchema() as convict.Schema<Record<string, unknown>>, { args, env: envValues });
    config.load(fileValues);
    config.validate({ allowed: 'strict' });
  } catch (err) {
    const lines = errorMessage(err).split('\n').filter(Boolean);
    const described = lines.map((line) => {
      const m = /^([A-Za-z]+): (.*)$/.exec(line);
      return m ? `${describeKey(m[1]!)}: ${m[2]}` : line;
    });
    throw invalid(`invalid configuration: ${described.join('; ')}`, `see: logship ${command} --help`);
  }
  return {
    config: config.getProperties() as unknown as Config,
    positionals: parsed.positionals,
    help: values.help === true,
  };
}

/** Default values, for help texts and tests. */
export function defaultConfig(): Config {
  return loadCommandLine('status', [], {}).config;
}
