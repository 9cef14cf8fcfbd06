// Elasticsearch helpers live behind their own entry point (@logship/common/elasticsearch)
// so that commands without Elasticsearch (ship, generate) do not load the client.
export { Client, createEsClient, esErrors, esNodeStates, esNodeUrls, esStatusOf, logEsNodeChanges, type EsNodeState, type EsSettings } from './client.js';
export { checkElasticsearch, declareElasticsearch, type EsCheck, type EsEndpoint } from './template.js';
export {
  ROLLOVER,
  TEMPLATE_MAPPINGS,
  ilmPolicyRequest,
  indexTemplateRequest,
  lifecycleProblem,
  mappingsComponentName,
  mappingsComponentRequest,
  pipelineRequest,
  settingsComponentName,
  settingsComponentRequest,
  templatePatterns,
  type EsLayout,
} from './requests.js';
export {
  DATA_VIEW_PATH,
  KibanaError,
  checkDataView,
  dataViewSpec,
  ensureDataView,
  kibanaFailureSummary,
  kibanaSpace,
  type DataViewCheck,
  type DataViewSpec,
  type KibanaFailure,
  type KibanaSettings,
} from './kibana.js';
