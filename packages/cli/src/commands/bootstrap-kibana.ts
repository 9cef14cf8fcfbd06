/** The Kibana step of `logship bootstrap --kibana-url`: the data view of --index or --data-stream. */
import { errorMessage, isLogshipError, maskUrl, type Config } from '@logship/common';
import { checkDataView, dataViewSpec, ensureDataView, kibanaFailureSummary } from '@logship/common/elasticsearch';

type Out = (line: string) => void;

function describe(config: Config): { what: string; spec: ReturnType<typeof dataViewSpec> } {
  const spec = dataViewSpec(config);
  return { spec, what: `Kibana data view "${spec.title}" (id ${spec.id}, time field ${spec.timeFieldName})` };
}

/** Creates the data view unless it exists, and says which; throws LOGSHIP_KIBANA (exit 1) when Kibana does not answer or refuses. */
export async function declareKibana(config: Config, out: Out): Promise<void> {
  const { spec, what } = describe(config);
  const state = await ensureDataView(config, spec);
  out(`  ${state === 'created' ? 'created ' : 'exists  '} ${what} on ${maskUrl(config.kibanaUrl)}`);
}

/** bootstrap --check: reports the data view; what is not in place goes to `missing`, with Kibana's hint in `hints`. */
export async function checkKibana(config: Config, out: Out, missing: string[], hints: Set<string>): Promise<void> {
  const { spec, what } = describe(config);
  try {
    const r = await checkDataView(config, spec);
    if (r.state === 'ok') {
      out(`  ok       ${what}`);
      return;
    }
    out(`  ${r.state === 'missing' ? 'MISSING ' : 'MISMATCH'} ${what}${r.problem ? `: ${r.problem}` : ''}`);
    missing.push(`Kibana data view "${spec.title}" (${r.state})`);
    if (r.state === 'mismatch') hints.add('a data view changed by hand: delete it in Kibana (Stack Management > Data Views) and run bootstrap again');
  } catch (err) {
    // messages of LOGSHIP_KIBANA errors are masked and scrubbed already
    out(`  MISSING  ${what}: ${errorMessage(err)}`);
    // by what Kibana answered: unreachable, 401, 403, 404, not ready, another refusal
    missing.push(`Kibana data view "${spec.title}" (${kibanaFailureSummary(err)})`);
    if (isLogshipError(err) && err.hint) hints.add(err.hint);
  }
}
