// What the bundle (scripts/bundle.mjs) holds instead of apache-arrow. The official
// Elasticsearch client requires it for its ES|QL helpers that answer in Arrow
// (toArrowTable, toArrowReader) and reads it only when one of them runs; logship never
// calls them. Reading anything of it throws, naming what is missing.
'use strict';

const message = 'apache-arrow is not in the logship bundle: the Elasticsearch client ES|QL Arrow helpers (toArrowTable, toArrowReader) are not available';

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
