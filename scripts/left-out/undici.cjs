// What the bundle (scripts/bundle.mjs) holds instead of undici. The official
// Elasticsearch client's transport requires it for UndiciConnection only; logship's
// client uses HttpConnection (Node's own http), so nothing reads it. Reading anything
// of it throws, naming what is missing.
'use strict';

const message = 'undici is not in the logship bundle: the Elasticsearch client UndiciConnection is not available (logship uses HttpConnection)';

module.exports = new Proxy(
  {},
  {
    get(_target, key) {
      // what module loaders and interop helpers probe for is absent, not an error
      if (typeof key === 'symbol' || key === '__esModule' || key === 'then') return undefined;
      throw new Error(message);
    },
  },
);
