/**
 * The Elasticsearch side of `logship bootstrap`: the ILM policy, the component
 * templates (mappings, settings) and the index template, declared in that order
 * (each refers to the one before), and verified by `bootstrap --check`.
 */
import type { Client } from '@elastic/elasticsearch';
import { ErrorCodes, LogshipError, errorMessage } from '../errors.js';
import { type SecretSettings, maskUrl, scrubConfigSecrets } from '../logger.js';
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

/** Where Elasticsearch is and the credentials to scrub from its error texts. */
export type EsEndpoint = SecretSettings & { esNode: string };

function unreachable(es: EsEndpoint, err: unknown): LogshipError {
  return new LogshipError(ErrorCodes.ES_UNAVAILABLE, `Elasticsearch at ${maskUrl(es.esNode)} did not answer: ${scrubConfigSecrets(errorMessage(err), es)}`, {
    hint: 'check --es-node (LOGSHIP_ES_NODE) and credentials, or pass --skip-elasticsearch to declare only the AMQP side',
    cause: err,
  });
}

const PRIVILEGE: Record<string, string> = {
  'ILM policy': 'manage_ilm',
  'component template': 'manage_index_templates',
  'index template': 'manage_index_templates',
};

async function put(what: string, name: string, es: EsEndpoint, call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (err) {
    const status = esStatusOf(err);
    if (status !== undefined && status >= 400 && status < 500) {
      throw new LogshipError(ErrorCodes.ES_TEMPLATE, `Elasticsearch refused ${what} "${name}" (HTTP ${status}): ${scrubConfigSecrets(errorMessage(err), es)}`, {
        hint: `the user needs the ${PRIVILEGE[what] ?? 'manage'} cluster privilege; or create it yourself and use --skip-elasticsearch`,
        cause: err,
      });
    }
    throw unreachable(es, err);
  }
}

/** Declares the policy, the component templates and the index template; `step` is told each one. Idempotent (PUTs). */
export async function declareElasticsearch(client: Client, layout: EsLayout, es: EsEndpoint, step: (description: string) => void): Promise<void> {
  const policy = ilmPolicyRequest(layout);
  if (policy) {
    await put('ILM policy', policy.name, es, () => client.ilm.putLifecycle(policy));
    step(`Elasticsearch ILM policy "${policy.name}" (${describePolicy(layout)})`);
  }
  for (const component of [mappingsComponentRequest(layout), settingsComponentRequest(layout)]) {
    await put('component template', component.name, es, () => client.cluster.putComponentTemplate(component));
    step(`Elasticsearch component template "${component.name}"`);
  }
  const template = indexTemplateRequest(layout);
  await put('index template', template.name, es, () => client.indices.putIndexTemplate(template));
  const target = layout.dataStream ? `data stream ${layout.dataStream}` : `indices ${template.index_patterns}`;
  step(`Elasticsearch index template "${template.name}" (${target})`);
}

export interface EsCheck {
  what: string;
  state: 'ok' | 'missing' | 'mismatch';
  problem?: string;
}

/** key names in one order: Elasticsearch answers a policy's actions in its own */
function stable(keys: string[]): string {
  return JSON.stringify([...keys].sort());
}

/**
 * Whether `got` holds every setting of `want`, recursively: Elasticsearch answers a
 * policy with defaults logship never sends (delete: {delete_searchable_snapshot: true}),
 * so only the settings logship sets are compared.
 */
function holds(got: unknown, want: unknown): boolean {
  if (want && typeof want === 'object' && !Array.isArray(want)) {
    if (!got || typeof got !== 'object' || Array.isArray(got)) return false;
    const g = got as Record<string, unknown>;
    return Object.entries(want).every(([k, v]) => v === undefined || (k in g && holds(g[k], v)));
  }
  return JSON.stringify(got) === JSON.stringify(want);
}

async function exists(es: EsEndpoint, call: () => Promise<unknown>): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (err) {
    if (esStatusOf(err) === 404) return false;
    throw unreachable(es, err);
  }
}

/** Verifies what declareElasticsearch declares, and the --pipeline; throws ES_UNAVAILABLE when Elasticsearch does not answer. */
export async function checkElasticsearch(client: Client, layout: EsLayout & { pipeline: string }, es: EsEndpoint): Promise<EsCheck[]> {
  const results: EsCheck[] = [];
  const policy = ilmPolicyRequest(layout);
  if (policy) {
    const what = `Elasticsearch ILM policy "${policy.name}"`;
    try {
      const got = await client.ilm.getLifecycle({ name: policy.name });
      const phases = got[policy.name]?.policy.phases;
      const want = policy.policy?.phases ?? {};
      const phaseNames = ['hot', 'warm', 'cold', 'frozen', 'delete'] as const;
      // a phase logship does not set is a mismatch when present (an extra delete phase deletes what --retention 0 keeps)
      const differs = phaseNames.filter((phase) => {
        const expected = want[phase];
        const actual = phases?.[phase];
        if (expected === undefined) return actual !== undefined;
        if (actual === undefined || actual.min_age !== expected.min_age) return true;
        // same actions, each holding logship's settings (an extra action would change what the policy does)
        const sameActions = stable(Object.keys(actual.actions ?? {})) === stable(Object.keys(expected.actions ?? {}));
        return !sameActions || !holds(actual.actions, expected.actions);
      });
      if (differs.length > 0) results.push({ what, state: 'mismatch', problem: `phases ${differs.join(', ')} differ from ${describePolicy(layout)}` });
      else results.push({ what, state: 'ok' });
    } catch (err) {
      if (esStatusOf(err) !== 404) throw unreachable(es, err);
      results.push({ what, state: 'missing' });
    }
  }
  for (const c of [mappingsComponentRequest(layout), settingsComponentRequest(layout)]) {
    const found = await exists(es, () => client.cluster.getComponentTemplate({ name: c.name }));
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
    if (esStatusOf(err) !== 404) throw unreachable(es, err);
    results.push({ what, state: 'missing' });
  }
  if (layout.pipeline) {
    const found = await exists(es, () => client.ingest.getPipeline(pipelineRequest(layout.pipeline)));
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
