/** `logship bootstrap [--check]`: the topology in order, then the index template. */
import {
  ExitCodes,
  checkTopology,
  connectOnce,
  declareTopology,
  errorMessage,
  maskUrl,
  scrubConfigSecrets,
  ErrorCodes,
  LogshipError,
  dataStreamIndexProblem,
  type Config,
} from '@logship/common';
import { checkElasticsearch, createEsClient, declareElasticsearch, lifecycleProblem } from '@logship/common/elasticsearch';
import type { CommandContext } from '../context.js';
import { checkKibana, declareKibana } from './bootstrap-kibana.js';

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

/**
 * A quorum queue stays available while a majority of its members is up: n members tolerate
 * floor((n - 1) / 2) down, so an even n tolerates no more than n - 1 (2 tolerates none, like 1).
 * A warning, not a refusal: the option may already be in use.
 */
export function quorumGroupAdvice(config: Pick<Config, 'queueType' | 'quorumGroupSize'>): string | undefined {
  const n = config.quorumGroupSize;
  if (config.queueType !== 'quorum' || n % 2 !== 0) return undefined;
  const tolerated = Math.floor((n - 1) / 2);
  return (
    `--quorum-group-size ${n} is even: a quorum queue of ${n} members keeps working with ${tolerated} of them down ` +
    `(a majority must be up), no more than with ${n - 1} member${n === 2 ? '' : 's'}; use an odd number, ${n - 1} or ${n + 1}`
  );
}

export async function runBootstrap({ config, positionals, logger }: CommandContext): Promise<number> {
  if (positionals.length > 0) {
    throw new LogshipError(ErrorCodes.USAGE, `bootstrap takes no arguments (got "${positionals.join(' ')}")`);
  }
  const groupAdvice = quorumGroupAdvice(config);
  if (groupAdvice) logger.warn({ quorumGroupSize: config.quorumGroupSize }, groupAdvice);
  // --index was validated with the configuration (exit 2 before connecting); so are the option pairs
  const lifecycle = lifecycleProblem(config);
  if (lifecycle && !config.skipElasticsearch) throw new LogshipError(ErrorCodes.CONFIG_INVALID, lifecycle);
  const fieldsInStream = dataStreamIndexProblem(config); // field references in --index cannot name a data stream
  if (fieldsInStream) throw new LogshipError(ErrorCodes.CONFIG_INVALID, fieldsInStream);
  const conn = await connectOnce(config, 'bootstrap');
  try {
    return config.check ? await check(config, conn) : await declare(config, conn);
  } finally {
    await conn.close().catch(() => undefined);
  }
}

async function declare(config: Config, conn: Awaited<ReturnType<typeof connectOnce>>): Promise<number> {
  out(`bootstrap: RabbitMQ ${maskUrl(config.amqpUrl)}`);
  await declareTopology(conn, config, (step) => out(`  declared ${step.description}`));
  if (config.skipElasticsearch) {
    out('  skipped Elasticsearch templates and ILM policy (--skip-elasticsearch)');
    if (config.kibanaUrl) await declareKibana(config, out);
    return ExitCodes.OK;
  }
  const client = createEsClient(config);
  try {
    await declareElasticsearch(client, config, config, (what) => out(`  declared ${what} on ${maskUrl(config.esNode)}`));
  } finally {
    await client.close().catch(() => undefined);
  }
  if (config.kibanaUrl) await declareKibana(config, out);
  out('bootstrap: done');
  return ExitCodes.OK;
}

async function check(config: Config, conn: Awaited<ReturnType<typeof connectOnce>>): Promise<number> {
  out(`bootstrap --check: RabbitMQ ${maskUrl(config.amqpUrl)} (nothing is declared)`);
  const missing: string[] = [];
  const hints = new Set<string>();
  for (const r of await checkTopology(conn, config)) {
    const what = r.step.description;
    if (r.state === 'ok') out(`  ok       ${what}: verified`);
    else if (r.state === 'exists-unverified') out(`  exists   ${what}: ${r.problem}`);
    else if (r.state === 'unverifiable') out(`  unknown  ${what}: ${r.problem ?? 'cannot be checked passively'}`);
    else {
      out(`  ${r.state === 'missing' ? 'MISSING ' : r.state === 'mismatch' ? 'MISMATCH' : 'ERROR   '} ${what}: ${r.problem}`);
      missing.push(`${r.step.object.kind} "${r.step.object.name}" (${r.state})`);
      if (r.state !== 'missing' && r.hint) hints.add(r.hint);
    }
  }
  if (!config.skipElasticsearch) {
    const client = createEsClient(config);
    try {
      for (const r of await checkElasticsearch(client, config, config)) {
        if (r.state === 'ok') out(`  ok       ${r.what}`);
        else {
          out(`  ${r.state === 'missing' ? 'MISSING ' : 'MISMATCH'} ${r.what}${r.problem ? `: ${r.problem}` : ''}`);
          missing.push(`${r.what.replace(/^Elasticsearch /, '')} (${r.state})`);
        }
      }
    } catch (err) {
      out(`  MISSING  Elasticsearch index template "${config.templateName}": ${scrubConfigSecrets(errorMessage(err), config)}`);
      missing.push(`index template "${config.templateName}" (Elasticsearch unreachable)`);
    } finally {
      await client.close().catch(() => undefined);
    }
  }
  if (config.kibanaUrl) await checkKibana(config, out, missing, hints);
  if (missing.length > 0) {
    throw new LogshipError(ErrorCodes.TOPOLOGY_MISSING, `not in place: ${missing.join('; ')}`, {
      hint: [...hints, 'run "logship bootstrap" (without --check) to declare what is missing'].join('; '),
    });
  }
  out('bootstrap --check: everything is in place');
  return ExitCodes.OK;
}
