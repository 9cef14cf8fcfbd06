/**
 * docker/'s own files as test/unit/docker*.test.ts read them: compose.yaml
 * parsed, compose.cluster.yaml merged onto it as `docker compose -f
 * compose.yaml -f compose.cluster.yaml` does, and Compose's variable
 * interpolation of the services' environment.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { OPTIONS, envName, type CommandName } from '@logship/common';
import { ROOT } from './cli.js';
import { mergeCompose, type ComposeFile } from './docker-files.js';

export const DOCKER = path.join(ROOT, 'docker');
export const compose = parse(fs.readFileSync(path.join(DOCKER, 'compose.yaml'), 'utf8'), { merge: true }) as {
  name: string;
  services: Record<string, Record<string, unknown> & { environment?: Record<string, string>; command?: string[] }>;
  volumes: Record<string, unknown>;
};
/** the LOGSHIP_ variables of the config schema */
export const KNOWN_ENV = new Set(Object.keys(OPTIONS).map(envName));
export const COMPOSE_TEXT = fs.readFileSync(path.join(DOCKER, 'compose.yaml'), 'utf8');
/** what docker/.env would hold */
export const COMPOSE_VARS = { RABBITMQ_PASSWORD: 'ab12cd34' };

/** Compose's variable interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}. */
export function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (_m, name: string, op: string | undefined, arg: string | undefined) => {
    const v = vars[name];
    const unset = op?.startsWith(':') ? v === undefined || v === '' : v === undefined;
    if (!unset) return v ?? '';
    if (op?.endsWith('?')) throw new Error(`required variable ${name} is missing: ${arg}`);
    return op ? (arg ?? '') : '';
  });
}

export const COMMANDS: CommandName[] = ['bootstrap', 'ship', 'index', 'status', 'monitor', 'generate', 'dlq'];

export const CLUSTER_TEXT = fs.readFileSync(path.join(DOCKER, 'compose.cluster.yaml'), 'utf8');
export const clusterOverride = parse(CLUSTER_TEXT, { merge: true }) as ComposeFile;
/** `docker compose -f compose.yaml -f compose.cluster.yaml` */
export const cluster = mergeCompose(compose as unknown as ComposeFile, clusterOverride);
export const CLUSTER_VARS = { ...COMPOSE_VARS, RABBITMQ_ERLANG_COOKIE: 'c00kie-for-the-test' };

/** the services that run the logship image with a command */
export function logshipServicesOf(file: ComposeFile) {
  return Object.entries(file.services).filter(([, s]) => (s.image === 'logship:local' || s.build) && Array.isArray(s.command));
}

/** a service's environment as Compose gives it to the container, with `vars` as docker/.env */
export function envOf(service: { environment?: Record<string, string> }, vars: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), vars)]));
}

export function rabbitNodes(file: ComposeFile) {
  return Object.entries(file.services).filter(([, s]) => /^rabbitmq:/.test(String(s.image)));
}
