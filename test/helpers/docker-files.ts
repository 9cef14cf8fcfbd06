/**
 * What test/unit/docker.test.ts checks docker/ against, without a Docker engine:
 * the service keys of the Compose Specification, Compose's merge of several -f
 * files, and the mappings of RabbitMQ's own config schema (rabbit.schema of the
 * installed server, the file cuttlefish validates rabbitmq.conf with).
 */
import fs from 'node:fs';
import path from 'node:path';

export type ComposeService = Record<string, unknown> & {
  environment?: Record<string, string>;
  command?: string[];
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
  profiles?: string[];
};

export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** the properties of definitions.service in compose-spec/compose-spec schema/compose-spec.json */
export const COMPOSE_SERVICE_KEYS = new Set(
  (
    'annotations attach build blkio_config cap_add cap_drop cgroup cgroup_parent command configs ' +
    'container_name cpu_count cpu_percent cpu_shares cpu_quota cpu_period cpu_rt_period cpu_rt_runtime ' +
    'cpus cpuset credential_spec depends_on deploy develop device_cgroup_rules devices dns dns_opt ' +
    'dns_search domainname entrypoint env_file label_file environment expose extends external_links ' +
    'extra_hosts gpus group_add healthcheck hostname image init ipc isolation labels links logging ' +
    'mac_address mem_limit mem_reservation mem_swappiness memswap_limit network_mode models networks ' +
    'oom_kill_disable oom_score_adj pid pids_limit platform ports post_start pre_stop privileged profiles ' +
    'provider pull_policy read_only restart runtime scale security_opt shm_size secrets sysctls ' +
    'stdin_open stop_grace_period stop_signal storage_opt tmpfs tty ulimits use_api_socket user uts ' +
    'userns_mode volumes volumes_from working_dir'
  ).split(' '),
);
/** definitions.healthcheck and the object form of depends_on */
export const COMPOSE_HEALTHCHECK_KEYS = new Set(['disable', 'interval', 'retries', 'test', 'timeout', 'start_period', 'start_interval']);
export const COMPOSE_DEPENDS_ON_KEYS = new Set(['condition', 'restart', 'required']);
export const COMPOSE_CONDITIONS = new Set(['service_started', 'service_healthy', 'service_completed_successfully']);
export const COMPOSE_RESTART = /^(no|always|on-failure(:\d+)?|unless-stopped)$/;

/** sequences Compose merges (volumes by container path, the others appended); any other sequence is replaced */
const MERGED_SEQUENCES = new Set(['ports', 'expose', 'external_links', 'dns', 'dns_search', 'tmpfs', 'volumes']);

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function mergeValue(key: string, base: unknown, over: unknown): unknown {
  if (isMap(base) && isMap(over) && key !== 'test') {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = k in base ? mergeValue(k, base[k], v) : v;
    return out;
  }
  if (Array.isArray(base) && Array.isArray(over) && MERGED_SEQUENCES.has(key)) {
    if (key !== 'volumes') return [...base, ...over];
    const target = (v: unknown) => String(v).split(':')[1];
    return [...base.filter((b) => !over.some((o) => target(o) === target(b))), ...over];
  }
  return over;
}

/** `docker compose -f base -f override`: services merged key by key (Compose's merge rules for the keys docker/ uses) */
export function mergeCompose(base: ComposeFile, override: ComposeFile): ComposeFile {
  const services: Record<string, ComposeService> = { ...base.services };
  for (const [name, s] of Object.entries(override.services)) {
    services[name] = (name in base.services ? mergeValue('service', base.services[name], s) : s) as ComposeService;
  }
  return { ...base, services, volumes: { ...(base.volumes ?? {}), ...(override.volumes ?? {}) } };
}

export interface RabbitMapping {
  key: string;
  pattern: RegExp;
  /** the allowed values of an {enum, [...]} datatype */
  values?: string[];
}

/** The rabbit.schema of the installed RabbitMQ server, or undefined when none is installed. */
export function rabbitSchema(): { file: string; mappings: RabbitMapping[]; backends: string[] } | undefined {
  const lib = '/usr/lib/rabbitmq/lib';
  if (!fs.existsSync(lib)) return undefined;
  for (const server of fs.readdirSync(lib).filter((d) => d.startsWith('rabbitmq_server-'))) {
    const plugins = path.join(lib, server, 'plugins');
    const rabbit = fs.existsSync(plugins) ? fs.readdirSync(plugins).find((d) => /^rabbit-[\d.]+$/.test(d)) : undefined;
    const file = rabbit && path.join(plugins, rabbit, 'priv', 'schema', 'rabbit.schema');
    if (!file || !fs.existsSync(file)) continue;
    const text = fs.readFileSync(file, 'utf8');
    const mappings: RabbitMapping[] = [];
    for (const m of text.matchAll(/^\{mapping, "([^"]+)",[^\n]*(?:\n(?!\{mapping|\{translation)[^\n]*)*/gm)) {
      const key = m[1]!;
      const pattern = new RegExp(
        `^${key
          .split('.')
          .map((part) => (part.startsWith('$') ? '[^.]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
          .join('\\.')}$`,
      );
      const values = /\{enum, \[([^\]]*)\]\}/
        .exec(m[0])?.[1]
        ?.split(',')
        .map((v) => v.trim());
      mappings.push(values ? { key, pattern, values } : { key, pattern });
    }
    // the short names the peer discovery backend translation accepts
    const translation = /\{translation, "rabbit\.cluster_formation\.peer_discovery_backend",[\s\S]*?end\s*end\}\./.exec(text)?.[0] ?? '';
    const backends = [...translation.matchAll(/^\s+([a-z_]+)\s+->/gm)].map((b) => b[1]!);
    return { file, mappings, backends };
  }
  return undefined;
}

/** key = value lines of a rabbitmq.conf (sysctl format), comments and blank lines left out */
export function readRabbitConf(file: string): Array<{ key: string; value: string; line: number }> {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((text, i) => ({ text: text.trim(), line: i + 1 }))
    .filter(({ text }) => text !== '' && !text.startsWith('#'))
    .map(({ text, line }) => {
      const eq = text.indexOf('=');
      if (eq < 0) throw new Error(`${file}:${line}: not a "key = value" line: ${text}`);
      return { key: text.slice(0, eq).trim(), value: text.slice(eq + 1).trim(), line };
    });
}
