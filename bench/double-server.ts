/** The Elasticsearch double as a standalone server, for profiling an indexer by hand: node --import tsx bench/double-server.ts PORT */
import { startLeanDouble } from '../test/helpers/es.js';

const es = await startLeanDouble(Number(process.argv[2] ?? 9299));
process.stdout.write(`${es.url}\n`);
setInterval(() => process.stdout.write(`stored ${es.stored}\n`), 2000).unref();
process.on('SIGTERM', () => void es.stop().then(() => process.exit(0)));
await new Promise(() => undefined);
