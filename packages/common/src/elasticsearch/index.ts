// Elasticsearch helpers live behind their own entry point (@logship/common/elasticsearch)
// so that commands without Elasticsearch (ship, generate) do not load the client.
export * from './client.js';
export * from './template.js';
export * from './requests.js';
