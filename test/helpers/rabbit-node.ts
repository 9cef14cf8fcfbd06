/**
 * A private RabbitMQ node for tests that stop or restart a broker: its own
 * node name, ports, data and log directories, no plugins; stopped by pid.
 * The shared broker of the machine is never touched.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from './wait.js';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function portOpen(port: number): Promise<boolean> {
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
function script(name: 'rabbitmq-server' | 'rabbitmqctl'): string {
  const direct = `/usr/lib/rabbitmq/bin/${name}`;
  return process.getuid?.() === 0 && fs.existsSync(direct) ? direct : name;
}

export function rabbitAvailable(): boolean {
  return spawnSync('sh', ['-c', 'command -v rabbitmq-server'], { encoding: 'utf8' }).status === 0;
}

export class PrivateRabbit {
  readonly name = `logship-test-${randomBytes(4).toString('hex')}`;
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logship-rabbit-'));
  port = 0;
  distPort = 0;
  tlsPort = 0;
  /** PEM files for an amqps listener, set before start() */
  tls: { ca: string; cert: string; key: string } | null = null;
  private child: ChildProcess | null = null;
  log = '';

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}/%2f`;
  }

  get tlsUrl(): string {
    return `amqps://guest:guest@localhost:${this.tlsPort}/%2f`;
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
      fs.writeFileSync(conf, text);
    }
    return {
      ...process.env,
      RABBITMQ_NODENAME: `${this.name}@localhost`,
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

  async start(timeoutMs = 90_000): Promise<void> {
    if (!this.port) {
      this.port = await freePort();
      this.distPort = await freePort();
      if (this.tls) this.tlsPort = await freePort();
    }
    const child = spawn(script('rabbitmq-server'), [], { env: this.env(), stdio: ['ignore', 'pipe', 'pipe'], detached: true, cwd: this.dir });
    child.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    this.child = child;
    await waitFor(
      `private RabbitMQ node ${this.name} on port ${this.port}`,
      async () => {
        if (child.exitCode !== null) throw new Error(`rabbitmq-server exited ${child.exitCode}: ${this.log.slice(-2000)}`);
        return (await portOpen(this.port)) && /completed with \d+ plugins|Server startup complete/.test(this.log);
      },
      timeoutMs,
      250,
    );
  }

  /** Stops the node by the pid of its process group (graceful, then forced). */
  async stop(timeoutMs = 60_000): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      /* already gone */
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, timeoutMs);
    await exited;
    clearTimeout(timer);
    await waitFor('the private node port to close', async () => !(await portOpen(this.port)), 30_000);
    this.child = null;
  }

  /** rabbitmqctl against this node only */
  ctl(...args: string[]): string {
    const r = spawnSync(script('rabbitmqctl'), ['-n', `${this.name}@localhost`, ...args], { encoding: 'utf8', env: this.env(), timeout: 30_000 });
    if (r.status !== 0) throw new Error(`rabbitmqctl ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
    return r.stdout;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
