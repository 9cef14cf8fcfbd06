/** Runs the real `logship` binary (node_modules/.bin/logship) as a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'node_modules/.bin/logship');
/** tsx's loader, by absolute URL: a child may run in another directory */
const TSX = import.meta.resolve('tsx');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  /** stdin: data to write, a stream to pipe, or an open file descriptor the child reads itself */
  input?: string | Buffer | Readable | { stdinFd: number };
  timeoutMs?: number;
}

function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LOGSHIP_') || k.startsWith('LOGSHIP_TEST_')) env[k] = v;
  // the binary runs packages/cli/src through tsx, so a test never runs an outdated dist/ (scripts/run-tests.mjs)
  const nodeOptions = [env.NODE_OPTIONS, `--import=${TSX}`, '--conditions=logship-source'].filter(Boolean).join(' ');
  return { ...env, LOGSHIP_LOG_LEVEL: 'warn', LOGSHIP_TEST_FROM_SOURCE: '1', NODE_OPTIONS: nodeOptions, ...extra };
}

export interface RunningCli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<CliResult>;
}

export function startCli(args: string[], options: RunOptions = {}): RunningCli {
  const input = options.input;
  const fd = input !== undefined && typeof input === 'object' && 'stdinFd' in input ? input.stdinFd : null;
  const child = spawn(BIN, args, { env: childEnv(options.env), stdio: [fd ?? 'pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin?.on('error', () => undefined);
  if (input === undefined || fd !== null) {
    // leave stdin open (long-running commands), or the child reads the descriptor itself
  } else if (typeof input === 'string' || Buffer.isBuffer(input)) {
    child.stdin!.end(input);
  } else {
    (input as Readable).pipe(child.stdin!);
  }
  let timer: NodeJS.Timeout | undefined;
  const exited = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  if (options.timeoutMs) {
    timer = setTimeout(() => {
      stderr += `\n[test] killed after ${options.timeoutMs} ms\n`;
      child.kill('SIGKILL');
    }, options.timeoutMs);
  }
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

export function runCli(args: string[], options: RunOptions = {}): Promise<CliResult> {
  return startCli(args, { timeoutMs: 120_000, input: '', ...options }).exited;
}
