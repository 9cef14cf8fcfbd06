/**
 * Every request body logship sends to Elasticsearch's admin APIs, typed with
 * the official client's request types: the compiler checks each one against
 * Elasticsearch's specification (no casts). Pure functions, unit-tested in
 * test/unit/template.test.ts.
 */
import type { estypes } from '@elastic/elasticsearch';
import type { Config } from '../config/schema.js';
import { createIndexNamer } from '../index-name.js';
import { formatEsDuration } from '../units.js';

// the client's request types (@elastic/elasticsearch/lib/api/types, generated from the specification)
type ClusterPutComponentTemplateRequest = estypes.ClusterPutComponentTemplateRequest;
type IlmPhases = estypes.IlmPhases;
type IlmPutLifecycleRequest = estypes.IlmPutLifecycleRequest;
type IndicesIndexSettings = estypes.IndicesIndexSettings;
type IndicesPutIndexTemplateRequest = estypes.IndicesPutIndexTemplateRequest;
type IngestGetPipelineRequest = estypes.IngestGetPipelineRequest;
type MappingTypeMapping = estypes.MappingTypeMapping;

/** What the Elasticsearch side of bootstrap is declared from. */
export type EsLayout = Pick<Config, 'templateName' | 'index' | 'dataStream' | 'ilmPolicy' | 'retention'>;

/** data streams roll over at whichever comes first (the sizes Elastic's own logs policies use) */
export const ROLLOVER = { max_primary_shard_size: '50gb', max_age: '1d' } as const;

/** The mappings of logship's ECS fields (docs/DESIGN.md); everything else is mapped dynamically. */
export const TEMPLATE_MAPPINGS: MappingTypeMapping = {
  dynamic: true,
  // ECS labels are keywords whatever their JSON type
  dynamic_templates: [{ labels_as_keyword: { path_match: 'labels.*', mapping: { type: 'keyword' } } }],
  properties: {
    '@timestamp': { type: 'date' },
    message: { type: 'match_only_text' },
    event: { properties: { id: { type: 'keyword' } } },
    host: { properties: { name: { type: 'keyword' } } },
    tags: { type: 'keyword' },
    labels: { type: 'object', dynamic: true },
    log: { properties: { file: { properties: { path: { type: 'keyword' } } }, offset: { type: 'long' } } },
    input: { properties: { type: { type: 'keyword' } } },
    agent: { properties: { type: { type: 'keyword' }, version: { type: 'keyword' } } },
    data_stream: {
      properties: { type: { type: 'constant_keyword' }, dataset: { type: 'constant_keyword' }, namespace: { type: 'constant_keyword' } },
    },
  },
};

export function mappingsComponentName(layout: Pick<EsLayout, 'templateName'>): string {
  return `${layout.templateName}-mappings`;
}

export function settingsComponentName(layout: Pick<EsLayout, 'templateName'>): string {
  return `${layout.templateName}-settings`;
}

/** the index patterns the template covers: the data stream itself, or every expansion of --index */
export function templatePatterns(layout: Pick<EsLayout, 'index' | 'dataStream'>): string[] {
  return [layout.dataStream || createIndexNamer(layout.index).wildcard];
}

const META = { managed_by: 'logship' };

export function mappingsComponentRequest(layout: EsLayout): ClusterPutComponentTemplateRequest {
  return {
    name: mappingsComponentName(layout),
    template: { mappings: TEMPLATE_MAPPINGS },
    _meta: { ...META, description: 'logship ECS field mappings' },
  };
}

export function settingsComponentRequest(layout: EsLayout): ClusterPutComponentTemplateRequest {
  // always declared, empty without a policy: dropping --ilm-policy later detaches it from new indices
  const settings: IndicesIndexSettings = layout.ilmPolicy ? { index: { lifecycle: { name: layout.ilmPolicy } } } : {};
  return {
    name: settingsComponentName(layout),
    template: { settings },
    _meta: { ...META, description: 'logship index settings (ILM policy)' },
  };
}

export function indexTemplateRequest(layout: EsLayout): IndicesPutIndexTemplateRequest {
  const request: IndicesPutIndexTemplateRequest = {
    name: layout.templateName,
    index_patterns: templatePatterns(layout),
    composed_of: [mappingsComponentName(layout), settingsComponentName(layout)],
    // above Elasticsearch's built-in logs-*-* template (100): ours wins for the names it covers
    priority: 200,
    _meta: { ...META, description: layout.dataStream ? `logship data stream ${layout.dataStream}` : 'logship daily indices' },
  };
  if (layout.dataStream) request.data_stream = {};
  return request;
}

/**
 * The ILM policy, or undefined without --ilm-policy. Data streams: a hot phase
 * rolling over at ROLLOVER, then delete --retention after the rollover. Daily
 * indices: only the delete phase, --retention after the index was created.
 */
export function ilmPolicyRequest(layout: EsLayout): IlmPutLifecycleRequest | undefined {
  if (!layout.ilmPolicy) return undefined;
  const phases: IlmPhases = {};
  if (layout.dataStream) phases.hot = { min_age: '0ms', actions: { rollover: { ...ROLLOVER } } };
  if (layout.retention > 0) phases.delete = { min_age: formatEsDuration(layout.retention), actions: { delete: {} } };
  return {
    name: layout.ilmPolicy,
    policy: { phases, _meta: { ...META, description: describePolicy(layout) } },
  };
}

export function describePolicy(layout: EsLayout): string {
  const parts: string[] = [];
  if (layout.dataStream) parts.push(`rollover at ${ROLLOVER.max_primary_shard_size} primary shard or ${ROLLOVER.max_age}`);
  if (layout.retention > 0) parts.push(`delete after ${formatEsDuration(layout.retention)}`);
  return parts.join(', ') || 'nothing';
}

/** --ilm-policy and --retention only make sense together (data streams may roll over without deleting). */
export function lifecycleProblem(layout: EsLayout): string | undefined {
  if (layout.retention > 0 && !layout.ilmPolicy) return '--retention needs --ilm-policy NAME (the policy that deletes old indices)';
  if (layout.ilmPolicy && !layout.dataStream && layout.retention <= 0) {
    return '--ilm-policy with daily indices needs --retention DURATION (e.g. 30d): the policy only deletes';
  }
  return undefined;
}

export function pipelineRequest(name: string): IngestGetPipelineRequest {
  return { id: name };
}
