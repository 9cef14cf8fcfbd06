/**
 * The Prometheus text exposition format (version 0.0.4): parsing of what a
 * worker serves, and rendering with extra labels. Only what the format
 * defines: HELP and TYPE lines, samples with optional labels and timestamp.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: string;
  samples: Sample[];
}

const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created', '_info'];

function unescapeHelp(s: string): string {
  return s.replace(/\\(\\|n)/g, (_m, c: string) => (c === 'n' ? '\n' : '\\'));
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function escapeLabel(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ' || text[i] === ',') i++;
    if (i >= text.length) break;
    const eq = text.indexOf('=', i);
    if (eq === -1 || text[eq + 1] !== '"') throw new Error(`bad label set in: ${line}`);
    const key = text.slice(i, eq).trim();
    let j = eq + 2;
    let value = '';
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const next = text[++j];
        value += next === 'n' ? '\n' : (next ?? '');
      } else value += text[j];
    }
    if (j >= text.length) throw new Error(`unterminated label value in: ${line}`);
    labels[key] = value;
    i = j + 1;
  }
  return labels;
}

function familyOf(sampleName: string, families: Map<string, Family>): string {
  if (families.has(sampleName)) return sampleName;
  for (const s of SUFFIXES) {
    if (sampleName.endsWith(s)) {
      const base = sampleName.slice(0, -s.length);
      if (families.has(base)) return base;
    }
  }
  return sampleName;
}

/** Sample values as Prometheus reads them (Go's ParseFloat: NaN and Inf in any case; prom-client writes "Nan"). */
function parseValue(text: string): number | undefined {
  switch (text.toLowerCase()) {
    case 'nan':
      return Number.NaN;
    case '+inf':
    case 'inf':
      return Infinity;
    case '-inf':
      return -Infinity;
    default: {
      const v = text === '' ? Number.NaN : Number(text);
      return Number.isNaN(v) ? undefined : v;
    }
  }
}

export function parseExposition(text: string): Family[] {
  const families = new Map<string, Family>();
  const get = (name: string) => {
    let f = families.get(name);
    if (!f) {
      f = { name, help: '', type: 'untyped', samples: [] };
      families.set(name, f);
    }
    return f;
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)\s?(.*)$/.exec(line);
      if (!m) continue;
      if (m[1] === 'HELP') get(m[2]!).help = unescapeHelp(m[3] ?? '');
      else get(m[2]!).type = (m[3] ?? 'untyped').trim();
      continue;
    }
    const brace = line.indexOf('{');
    let name: string;
    let labels: Record<string, string> = {};
    let rest: string;
    if (brace !== -1 && brace < (line.indexOf(' ') === -1 ? Infinity : line.indexOf(' '))) {
      name = line.slice(0, brace);
      const close = line.lastIndexOf('}');
      if (close === -1) throw new Error(`unterminated label set in: ${line}`);
      labels = parseLabels(line.slice(brace + 1, close), line);
      rest = line.slice(close + 1).trim();
    } else {
      const sp = line.indexOf(' ');
      name = line.slice(0, sp);
      rest = line.slice(sp + 1).trim();
    }
    const valueText = rest.split(/\s+/)[0] ?? '';
    const value = parseValue(valueText);
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name) || value === undefined) throw new Error(`bad sample: ${line}`);
    get(familyOf(name, families)).samples.push({ name, labels, value });
  }
  return [...families.values()];
}

function formatValue(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  return String(v);
}

export function renderSample(s: Sample): string {
  const entries = Object.entries(s.labels);
  const labels = entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
  return `${s.name}${labels} ${formatValue(s.value)}`;
}

export function renderFamilies(families: Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    if (f.samples.length === 0) continue;
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`);
    out.push(`# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) out.push(renderSample(s));
  }
  return `${out.join('\n')}\n`;
}
