/**
 * The Elasticsearch side of `logship bootstrap`: the ILM policy, the component
 * templates (mappings, settings) and the index template, declared in that order
 * (each refers to the one before), and verified by `bootstrap --check`.
 */
import type { Client } from '@elastic/elasticsearch';
import { ErrorCodes, LogshipError, errorMessage } from '../errors.js';
import { maskUrl, scrubSecrets } from '../logger.js';
import { esStatusOf } from './client.js';
import {
  type EsLayout,
  describePolicy,
  ilmPolicyRequest,
  indexTemplateRequest,
  mappingsComponentRequest,
  pipelineRequest,
  settingsComponentRequest,
} from './requests.js';

function unreachable(node: string, err: unknown): LogshipError {
  return new LogshipError(ErrorCodes.ES_UNAVAILABLE, `Elasticsearch at ${maskUrl(node)} did not answer: ${scrubSecrets(errorMessage(err), [node])}`, {
    hint: 'check --es-node (LOGSHIP_ES_NODE) and credentials, or pass --skip-elasticsearch to declare only the AMQP side',
    cause: err,
  });
}

const PRIVILEGE: Record<string, string> = {
  'ILM policy': 'manage_ilm',
  'component template': 'manage_index_templates',
  'index template': 'manage_index_templates',
};

async function put(what: string, name: string, node: string, call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (err) {
    const status = esStatusOf(err);
    if (status !== undefined && status >= 400 && status < 500) {
      throw new LogshipError(ErrorCodes.ES_TEMPLATE, `Elasticsearch refused ${what} "${name}" (HTTP ${status}): ${errorMessage(err)}`, {
        hint: `the user needs the ${PRIVILEGE[what] ?? 'manage'} cluster privilege; or create it yourself and use --skip-elasticsearch`,
        cause: err,
      });
    }
    throw unreachable(node, err);
  }
}

/** Declares the policy, the component templates and the index template; `step` is told each one. Idempotent (PUTs). */
export async function declareElasticsearch(client: Client, layout: EsLayout, node: string, step: (description: string) => void): Promise<void> {
  const policy = ilmPolicyRequest(layout);
  if (policy) {
    await put('ILM policy', policy.name, node, () => client.ilm.putLifecycle(policy));
    step(`Elasticsearch ILM policy "${policy.name}" (${describePolicy(layout)})`);
  }
  for (const component of [mappingsComponentRequest(layout), settingsComponentRequest(layout)]) {
    await put('component template', component.name, node, () => client.cluster.putComponentTemplate(component));
    step(`Elasticsearch component template "${component.name}"`);
  }
  const template = indexTemplateRequest(layout);
  await put('index template', template.name, node, () => client.indices.putIndexTemplate(template));
  const target = layout.dataStream ? `data stream ${layout.dataStream}` : `indices ${template.index_patterns}`;
  step(`Elasticsearch index template "${template.name}" (${target})`);
}

export async function templateExists(client: Client, name: string, node: string): Promise<boolean> {
  try {
    return await client.indices.existsIndexTemplate({ name });
  } catch (err) {
    throw unreachable(node, err);
  }
}

export interface EsCheck {
  what: string;
  state: 'ok' | 'missing' | 'mismatch';
  problem?: string;
}

/** JSON with sorted keys: Elasticsearch answers a policy's actions in its own key order */
function stable(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}

async function exists(node: string, call: () => Promise<unknown>): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (err) {
    if (esStatusOf(err) === 404) return false;
    throw unreachable(node, err);
  }
}

/** Verifies what declareElasticsearch declares, and the --pipeline; throws ES_UNAVAILABLE when Elasticsearch does not answer. */
export async function checkElasticsearch(client: Client, layout: EsLayout & { pipeline: string }, node: string): Promise<EsCheck[]> {
  const results: EsCheck[] = [];
  const policy = ilmPolicyRequest(layout);
  if (policy) {
    const what = `Elasticsearch ILM policy "${policy.name}"`;
    try {
      const got = await client.ilm.getLifecycle({ name: policy.name });
      const phases = got[policy.name]?.policy.phases;
      const want = policy.policy?.phases ?? {};
      const phaseNames = ['hot', 'warm', 'cold', 'frozen', 'delete'] as const;
      const differs = phaseNames.filter(
        (phase) =>
          stable(phases?.[phase]?.actions) !== stable(want[phase]?.actions) || (want[phase] !== undefined && phases?.[phase]?.min_age !== want[phase]?.min_age),
      );
      if (differs.length > 0) results.push({ what, state: 'mismatch', problem: `phases ${differs.join(', ')} differ from ${describePolicy(layout)}` });
      else results.push({ what, state: 'ok' });
    } catch (err) {
      if (esStatusOf(err) !== 404) throw unreachable(node, err);
      results.push({ what, state: 'missing' });
    }
  }
  for (const c of [mappingsComponentRequest(layout), settingsComponentRequest(layout)]) {
    const found = await exists(node, () => client.cluster.getComponentTemplate({ name: c.name }));
    results.push({ what: `Elasticsearch component template "${c.name}"`, state: found ? 'ok' : 'missing' });
  }
  const template = indexTemplateRequest(layout);
  const what = `Elasticsearch index template "${template.name}"`;
  try {
    const got = await client.indices.getIndexTemplate({ name: template.name });
    const t = got.index_templates[0]?.index_template;
    const problems: string[] = [];
    if (JSON.stringify(t?.index_patterns) !== JSON.stringify(template.index_patterns)) {
      problems.push(`index_patterns are ${JSON.stringify(t?.index_patterns)}, expected ${JSON.stringify(template.index_patterns)}`);
    }
    if (Boolean(t?.data_stream) !== Boolean(template.data_stream))
      problems.push(template.data_stream ? 'it is not a data stream template' : 'it is a data stream template');
    for (const c of template.composed_of ?? []) if (!t?.composed_of?.includes(c)) problems.push(`it is not composed of "${c}"`);
    results.push(problems.length ? { what, state: 'mismatch', problem: problems.join('; ') } : { what, state: 'ok' });
  } catch (err) {
    if (esStatusOf(err) !== 404) throw unreachable(node, err);
    results.push({ what, state: 'missing' });
  }
  if (layout.pipeline) {
    const found = await exists(node, () => client.ingest.getPipeline(pipelineRequest(layout.pipeline)));
    results.push({
      what: `Elasticsearch ingest pipeline "${layout.pipeline}"`,
      state: found ? 'ok' : 'missing',
      ...(found
        ? {}
        : { problem: 'every bulk request names it: Elasticsearch fails each document until it exists (create it with PUT _ingest/pipeline/NAME)' }),
    });
  }
  return results;
}
