/** `logship bootstrap [--check]`: the topology in order, then the index template. */
import {
  ExitCodes,
  checkTopology,
  connectOnce,
  declareTopology,
  errorMessage,
  maskUrl,
  validateIndexPattern,
  ErrorCodes,
  LogshipError,
  type Config,
} from '@logship/common';
import { createEsClient, putTemplate, templateExists } from '@logship/common/elasticsearch';
import type { CommandContext } from '../main.js';

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function checkIndexPattern(config: Config): void {
  const problem = validateIndexPattern(config.index);
  if (problem) throw new LogshipError(ErrorCodes.CONFIG_INVALID, `--index "${config.index}" ${problem}`);
}

export async function runBootstrap({ config, positionals }: CommandContext): Promise<number> {
  if (positionals.length > 0) {
    throw new LogshipError(ErrorCodes.USAGE, `bootstrap takes no arguments (got "${positionals.join(' ')}")`);
  }
  checkIndexPattern(config);
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
    out('  skipped Elasticsearch index template (--skip-elasticsearch)');
    return ExitCodes.OK;
  }
  const client = createEsClient(config);
  try {
    await putTemplate(client, config.templateName, config.index, config.esNode);
    out(`  declared Elasticsearch index template "${config.templateName}" on ${maskUrl(config.esNode)}`);
  } finally {
    await client.close().catch(() => undefined);
  }
  out('bootstrap: done');
  return ExitCodes.OK;
}

async function check(config: Config, conn: Awaited<ReturnType<typeof connectOnce>>): Promise<number> {
  out(`bootstrap --check: RabbitMQ ${maskUrl(config.amqpUrl)} (nothing is declared)`);
  const missing: string[] = [];
  for (const r of await checkTopology(conn, config)) {
    if (r.ok === true) out(`  ok       ${r.step.description}`);
    else if (r.ok === 'unverifiable') out(`  unknown  ${r.step.description} (bindings cannot be checked passively)`);
    else {
      out(`  MISSING  ${r.step.description}: ${r.problem}`);
      missing.push(r.step.description);
    }
  }
  if (!config.skipElasticsearch) {
    const client = createEsClient(config);
    try {
      if (await templateExists(client, config.templateName, config.esNode)) out(`  ok       Elasticsearch index template "${config.templateName}"`);
      else {
        out(`  MISSING  Elasticsearch index template "${config.templateName}"`);
        missing.push(`index template "${config.templateName}"`);
      }
    } catch (err) {
      out(`  MISSING  Elasticsearch index template "${config.templateName}": ${errorMessage(err)}`);
      missing.push(`index template "${config.templateName}" (Elasticsearch unreachable)`);
    } finally {
      await client.close().catch(() => undefined);
    }
  }
  if (missing.length > 0) {
    throw new LogshipError(ErrorCodes.TOPOLOGY_MISSING, `missing: ${missing.join('; ')}`, { hint: 'run "logship bootstrap" (without --check)' });
  }
  out('bootstrap --check: everything is in place');
  return ExitCodes.OK;
}
