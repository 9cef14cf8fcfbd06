/** Starting indexers and shipping through the real CLI, for integration tests. */
import assert from 'node:assert/strict';
import { runCli, startCli, type CliResult, type RunningCli } from './cli.js';
import { waitFor } from './wait.js';

export interface IndexerProcess extends RunningCli {
  /** base URL of its /metrics and /health */
  url: string;
}

export async function bootstrap(env: Record<string, string>, extra: string[] = []): Promise<CliResult> {
  const r = await runCli(['bootstrap', ...extra], { env });
  assert.equal(r.code, 0, `bootstrap failed:\n${r.stdout}\n${r.stderr}`);
  return r;
}

export async function startIndexer(env: Record<string, string>, extra: string[] = []): Promise<IndexerProcess> {
  const p = startCli(['index', '--metrics-port', '0', ...extra], { env: { LOGSHIP_LOG_LEVEL: 'info', ...env } });
  const url = await waitFor(
    'the indexer to serve /metrics',
    () => {
      const m = /"url":"(http:\/\/[^"]+)","metrics"/.exec(p.stderr());
      if (m) return m[1];
      if (p.child.exitCode !== null) throw new Error(`indexer exited ${p.child.exitCode}:\n${p.stderr()}`);
      return undefined;
    },
    30_000,
  ).catch((err: unknown) => {
    // not serving: no test will stop it
    p.child.kill('SIGKILL');
    throw err;
  });
  return { ...p, url };
}

export async function metricValue(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').pop()) : Number.NaN;
}

export async function stopProcess(p: RunningCli, signal: NodeJS.Signals = 'SIGTERM'): Promise<CliResult> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal);
  return p.exited;
}

/** numbered, unique lines: "line <i> <padding>" */
export function numberedLines(n: number, prefix = 'line'): string {
  let out = '';
  for (let i = 0; i < n; i++) out += `${prefix} ${i} lorem ipsum dolor sit amet\n`;
  return out;
}

export function ship(env: Record<string, string>, input: string | Buffer, extra: string[] = []): Promise<CliResult> {
  return runCli(['ship', ...extra], { env, input });
}

/** Starts a command that serves HTTP (monitor, generate --serve, ship --follow) and returns its URL. */
export async function startServing(args: string[], env: Record<string, string>): Promise<{ p: RunningCli; url: string }> {
  const p = startCli(args, { env: { ...env, LOGSHIP_LOG_LEVEL: 'info' } });
  const url = await waitFor(
    `${args[0]} to serve`,
    () => {
      const m = /"url":"(http:\/\/[^"]+)"/.exec(p.stderr());
      if (m) return m[1];
      if (p.child.exitCode !== null) throw new Error(`${args[0]} exited ${p.child.exitCode}: ${p.stderr()}`);
      return undefined;
    },
    30_000,
  ).catch((err: unknown) => {
    p.child.kill('SIGKILL');
    throw err;
  });
  return { p, url };
}
