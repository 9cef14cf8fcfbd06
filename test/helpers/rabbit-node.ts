/**
 * A private RabbitMQ node for tests that stop, kill or restart a broker: its
 * own node name, ports, data and log directories, Erlang cookie (a private
 * HOME), no plugins; stopped by the pid of its process group, and killed when
 * the test process exits, however it exits. The shared broker of the machine
 * (rabbit@localhost, port 5672) is never touched. PrivateCluster
 * (rabbit-cluster.ts) builds three of these into one cluster.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * The server script itself: Debian's /usr/sbin/rabbitmq-server switches to the
 * rabbitmq user (which cannot write our temp dirs) and adds a shell between
 * us and the node; as root we run the real script directly.
 */
function script(name: 'rabbitmq-server' | 'rabbitmqctl' | 'rabbitmq-queues'): string {
  const direct = `/usr/lib/rabbitmq/bin/${name}`;
  return process.getuid?.() === 0 && fs.existsSync(direct) ? direct : name;
}

export function rabbitAvailable(): boolean {
  return spawnSync('sh', ['-c', 'command -v rabbitmq-server'], { encoding: 'utf8' }).status === 0;
}

/**
 * Process groups of every node this process started and has not seen exit.
 * The last resort: on exit (normal, uncaught error, or a terminating signal)
 * each is killed, so no node outlives the test process.
 */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = () => {
    for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL');
    liveGroups.clear();
  };
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      killAll();
      // then die of the signal as if we had not listened, unless someone else handles it
      process.removeListener(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/**
 * A watchdog outside this process: kills the node's group when the test
 * process is gone, even by SIGKILL (when no exit handler runs).
 */
function startWatchdog(pgid: number): ChildProcess {
  const w = spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 2; done; kill -9 -${pgid} 2>/dev/null`], {
    detached: true,
    stdio: 'ignore',
  });
  w.unref();
  return w;
}

export interface PrivateRabbitOptions {
  /** node name before "@localhost"; default logship-test-<random> */
  name?: string;
  /** holds data, logs, config and (unless `home` is given) the private HOME; default a new temp dir */
  dir?: string;
  /** a HOME holding the .erlang.cookie to use (nodes of one cluster share it); default <dir>/home with a new cookie */
  home?: string;
  /** more rabbitmq.conf lines */
  conf?: string;
}

/** Makes a HOME whose only content is a new Erlang cookie (mode 0400, as Erlang demands). */
export function privateHome(dir: string): string {
  const home = path.join(dir, 'home');
  const cookie = path.join(home, '.erlang.cookie');
  if (!fs.existsSync(cookie)) {
    fs.mkdirSync(home, { recursive: true });
    fs.writeFileSync(cookie, randomBytes(16).toString('hex').toUpperCase(), { mode: 0o400 });
  }
  return home;
}

export class PrivateRabbit {
  readonly name: string;
  readonly dir: string;
  readonly home: string;
  readonly extraConf: string;
  port = 0;
  distPort = 0;
  tlsPort = 0;
  /** PEM files for an amqps listener, set before start() */
  tls: { ca: string; cert: string; key: string } | null = null;
  private child: ChildProcess | null = null;
  private watchdog: ChildProcess | null = null;
  /** everything the node printed, over all its starts */
  log = '';

  constructor(options: PrivateRabbitOptions = {}) {
    this.name = options.name ?? `logship-test-${randomBytes(4).toString('hex')}`;
    this.dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'logship-rabbit-'));
    fs.mkdirSync(this.dir, { recursive: true });
    this.home = options.home ?? privateHome(this.dir);
    this.extraConf = options.conf ?? '';
  }

  /** the full Erlang node name */
  get node(): string {
    return `${this.name}@localhost`;
  }

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}/%2f`;
  }

  get tlsUrl(): string {
    return `amqps://guest:guest@localhost:${this.tlsPort}/%2f`;
  }

  /** the pid of the node's process group while it runs (the rabbitmq-server shell leads it), else null */
  get pid(): number | null {
    const c = this.child;
    return c && c.exitCode === null && c.signalCode === null ? (c.pid ?? null) : null;
  }

  get running(): boolean {
    return this.pid !== null;
  }

  private env(): NodeJS.ProcessEnv {
    fs.mkdirSync(path.join(this.dir, 'mnesia'), { recursive: true });
    fs.mkdirSync(path.join(this.dir, 'log'), { recursive: true });
    const plugins = path.join(this.dir, 'enabled_plugins');
    if (!fs.existsSync(plugins)) fs.writeFileSync(plugins, '[].\n');
    const conf = path.join(this.dir, 'rabbitmq.conf');
    // guest may log in over loopback only, which is what tests use
    if (!fs.existsSync(conf)) {
      let text = 'loopback_users.guest = true\n';
      if (this.tls) {
        text += `listeners.ssl.default = 127.0.0.1:${this.tlsPort}\n`;
        text += `ssl_options.cacertfile = ${this.tls.ca}\nssl_options.certfile = ${this.tls.cert}\nssl_options.keyfile = ${this.tls.key}\n`;
        text += 'ssl_options.verify = verify_peer\nssl_options.fail_if_no_peer_cert = false\n';
      }
      fs.writeFileSync(conf, text + this.extraConf);
    }
    return {
      ...process.env,
      // the node and rabbitmqctl read the Erlang cookie from $HOME: ours, not the machine's
      HOME: this.home,
      RABBITMQ_NODENAME: this.node,
      RABBITMQ_NODE_PORT: String(this.port),
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_DIST_PORT: String(this.distPort),
      RABBITMQ_MNESIA_BASE: path.join(this.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: path.join(this.dir, 'log'),
      RABBITMQ_ENABLED_PLUGINS_FILE: plugins,
      RABBITMQ_CONFIG_FILE: conf,
      RABBITMQ_PID_FILE: path.join(this.dir, 'pid'),
    };
  }

  /** Picks the ports (kept across restarts, so URLs stay valid); start() does it when needed. */
  async allocatePorts(): Promise<void> {
    if (this.port) return;
    this.port = await freePort();
    this.distPort = await freePort();
    if (this.tls) this.tlsPort = await freePort();
  }

  /** Starts the node (again, with the same data, after stop() or kill()) and waits until it accepts AMQP connections. */
  async start(timeoutMs = 90_000): Promise<void> {
    if (this.running) return;
    await this.allocatePorts();
    const child = spawn(script('rabbitmq-server'), [], { env: this.env(), stdio: ['ignore', 'pipe', 'pipe'], detached: true, cwd: this.dir });
    const from = this.log.length;
    child.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    this.child = child;
    const pgid = child.pid!;
    installExitHook();
    liveGroups.add(pgid);
    this.watchdog = startWatchdog(pgid);
    child.once('exit', () => {
      liveGroups.delete(pgid);
      this.stopWatchdog();
    });
    try {
      await waitFor(
        `private RabbitMQ node ${this.node} on port ${this.port}`,
        async () => {
          if (child.exitCode !== null || child.signalCode !== null) {
            throw new Error(`rabbitmq-server exited ${child.exitCode ?? child.signalCode}: ${this.log.slice(-2000)}`);
          }
          // this start's output only: an earlier start's banner says nothing about this one
          return /completed with \d+ plugins|Server startup complete/.test(this.log.slice(from)) && (await portOpen(this.port));
        },
        timeoutMs,
        250,
      );
    } catch (err) {
      await this.kill();
      throw err;
    }
  }

  private stopWatchdog(): void {
    if (this.watchdog?.pid) killGroup(this.watchdog.pid, 'SIGKILL');
    this.watchdog = null;
  }

  private async signalAndWait(signal: NodeJS.Signals, forceAfterMs: number): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.child = null;
      return;
    }
    const pgid = child.pid!;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    killGroup(pgid, signal);
    const timer = setTimeout(() => killGroup(pgid, 'SIGKILL'), forceAfterMs);
    await exited;
    clearTimeout(timer);
    // the shell leads the group; make sure nothing of the node (beam, erl_child_setup) is left
    killGroup(pgid, 'SIGKILL');
    await waitFor(`the port of ${this.node} to close`, async () => !(await portOpen(this.port)), 30_000);
    this.child = null;
  }

  /** Stops the node by the pid of its process group (graceful, then forced after timeoutMs). */
  async stop(timeoutMs = 60_000): Promise<void> {
    await this.signalAndWait('SIGTERM', timeoutMs);
  }

  /** kill -9 of the node's whole process group: a crash, no goodbye to clients or peers. */
  async kill(): Promise<void> {
    await this.signalAndWait('SIGKILL', 0);
  }

  /** resident memory of the node's processes, in KiB (0 when it is not running) */
  rssKb(): number {
    const pgid = this.pid;
    if (pgid === null) return 0;
    const r = spawnSync('ps', ['-o', 'rss=', '-g', String(pgid)], { encoding: 'utf8' });
    return r.stdout
      .split('\n')
      .map((l) => Number(l.trim()))
      .filter((n) => Number.isFinite(n))
      .reduce((a, b) => a + b, 0);
  }

  /** rabbitmqctl against this node only (blocks the event loop: not while an in-process server must answer; use ctlAsync) */
  ctl(...args: string[]): string {
    const r = spawnSync(script('rabbitmqctl'), ['-n', this.node, ...args], { encoding: 'utf8', env: this.env(), timeout: 30_000 });
    if (r.status !== 0) throw new Error(`rabbitmqctl ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
    return r.stdout;
  }

  /** rabbitmqctl (or another CLI tool) against this node, without blocking the event loop */
  ctlAsync(args: string[], tool: 'rabbitmqctl' | 'rabbitmq-queues' = 'rabbitmqctl', timeoutMs = 60_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const c = spawn(script(tool), ['-n', this.node, ...args], { env: this.env(), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      c.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
      c.on('error', reject);
      c.on('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve(out);
        else reject(new Error(`${tool} -n ${this.node} ${args.join(' ')} failed (${code ?? signal}): ${err || out}`));
      });
    });
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async destroy(): Promise<void> {
    try {
      await this.stop();
    } finally {
      await this.kill();
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
