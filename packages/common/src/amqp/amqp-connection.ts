/**
 * The connection of a long-running command (ship, index, monitor, generate
 * --serve) to one node of a RabbitMQ cluster at a time.
 *
 * amqp-connection-manager owns the connection and the node rotation: when the
 * node in use is lost (closed, refused, missed heartbeats) it connects to the
 * next node of the list that answers. The list is shuffled once per process
 * (so N indexers spread over the nodes) and a round in which every node failed
 * is followed by an exponential backoff. Its channel wrapper is never used
 * (docs/DESIGN.md, "Broker clusters"): callers open plain amqplib channels on
 * every 'connect' and keep their own guarantees (the shipper re-publishes what
 * was not confirmed; the indexer never acks a delivery of a dead channel).
 *
 * Events, as amqplib's recovering connection: 'connect' (ChannelModel),
 * 'disconnect' (Error), 'blocked' (reason), 'unblocked'.
 */
import { EventEmitter } from 'node:events';
import amqpManager, { type AmqpConnectionManager } from 'amqp-connection-manager';
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import { backoffDelay } from '../backoff.js';
import { errorMessage } from '../errors.js';
import { scrubSecrets, type Logger } from '../logger.js';
import { Counter, Gauge, type Registry } from 'prom-client';
import { type AmqpSettings, describeClusterConnectError, isConfigRefusal, isLoginRefusal, socketOptions } from './connection.js';
import { amqpNodes, nodeName, shuffled } from './node-list.js';

export interface AmqpConnectionOptions {
  role: string;
  logger: Logger;
  /** retries, in rounds over every node, before the first connection succeeds (default 4: 5 rounds); then reconnects forever */
  initialMaxRetries?: number;
  /** try the nodes in the given order instead of a per-process shuffle (tests, or a preferred node first) */
  ordered?: boolean;
  /** where logship_amqp_failovers_total and logship_amqp_connected are registered */
  registry?: Registry;
  /** AMQP heartbeat: a node that stops answering is given up after about two of these (default 5 s) */
  heartbeatSeconds?: number;
}

const RECONNECT_DELAY_S = 0.25;
const ROUND_BACKOFF = { initialMs: 200, maxMs: 10_000 };
/** a connection that lived this long resets the backoff; a node that accepts and drops at once does not */
const STABLE_MS = 5000;
/** close() gives a connect attempt under way this long before leaving it to finish in the background */
const CLOSE_WAIT_MS = 1000;

interface Waiter {
  resolve(model: ChannelModel): void;
  reject(err: Error): void;
}

interface ChannelRequest {
  /** stop waiting for a connection (the request rejects); a channel that opens afterwards is closed */
  signal?: AbortSignal;
}

function amqpMetrics(registry: Registry | undefined) {
  if (!registry) return undefined;
  const existing = registry.getSingleMetric('logship_amqp_failovers_total');
  if (existing) return undefined; // one connection per process reports
  return {
    failovers: new Counter({
      name: 'logship_amqp_failovers_total',
      help: 'Switches to another RabbitMQ node of --amqp-url after the one in use was lost',
      registers: [registry],
    }),
    connected: new Gauge({
      name: 'logship_amqp_connected',
      help: '1 for the RabbitMQ node in use (password masked); 0 for the last node used while no node is connected',
      labelNames: ['node'],
      registers: [registry],
    }),
  };
}

export class AmqpConnection extends EventEmitter {
  private readonly manager: AmqpConnectionManager;
  private readonly nodes: string[];
  private readonly metrics: ReturnType<typeof amqpMetrics>;
  private model: ChannelModel | undefined;
  private current: string | undefined;
  private last: string | undefined;
  private connectedAt = 0;
  private waiters: Waiter[] = [];
  private closed = false;
  private connectedOnce = false;
  private round = 0;
  private wakeBackoff: (() => void) | undefined;
  /** before the first connection: the latest failure of each node, and how many attempts failed */
  private failures = new Map<string, unknown>();
  private failedAttempts = 0;
  private failedRounds = 0;
  private initial: Array<{ resolve(): void; reject(err: Error): void }> = [];
  private initialError: Error | undefined;
  /** switches to another node after the one in use was lost */
  failovers = 0;

  constructor(
    private readonly settings: AmqpSettings,
    private readonly options: AmqpConnectionOptions,
  ) {
    super();
    this.nodes = amqpNodes(settings.amqpUrl);
    const order = options.ordered || this.nodes.length < 2 ? this.nodes : shuffled(this.nodes);
    this.metrics = amqpMetrics(options.registry);
    this.manager = amqpManager.connect(null, {
      findServers: () => this.nextRound(order),
      heartbeatIntervalInSeconds: options.heartbeatSeconds ?? 5,
      reconnectTimeInSeconds: RECONNECT_DELAY_S,
      connectionOptions: socketOptions(settings, options.role),
    });
    this.manager.on('connect', ({ url }) => this.onConnect(typeof url === 'string' ? url : ''));
    this.manager.on('connectFailed', ({ err, url }) => this.onConnectFailed(typeof url === 'string' ? url : '', err));
    this.manager.on('disconnect', ({ err }) => this.onDisconnect(err));
    this.manager.on('blocked', ({ reason }) => this.safeEmit('blocked', reason));
    this.manager.on('unblocked', () => this.safeEmit('unblocked'));
  }

  /** The node in use, password masked; undefined while none is connected. */
  get node(): string | undefined {
    return this.current === undefined ? undefined : nodeName(this.current);
  }

  get connected(): boolean {
    return this.model !== undefined;
  }

  /** The nodes of --amqp-url, passwords masked. */
  get nodeNames(): string[] {
    return this.nodes.map(nodeName);
  }

  /**
   * Resolves at the first connection; rejects when every node failed
   * initialMaxRetries + 1 rounds, when a node refused the login, when every
   * node refused the vhost, or when the connection was closed first.
   */
  waitForConnect(): Promise<void> {
    if (this.model || this.connectedOnce) return Promise.resolve();
    if (this.initialError) return Promise.reject(this.initialError);
    if (this.closed) return Promise.reject(new Error('Connection closed'));
    return new Promise((resolve, reject) => this.initial.push({ resolve, reject }));
  }

  createChannel(): Promise<Channel> {
    return this.openChannel((m) => m.createChannel(), {});
  }

  createConfirmChannel(): Promise<ConfirmChannel> {
    return this.openChannel((m) => m.createConfirmChannel(), {});
  }

  /** A channel, unless `signal` aborts first (then no waiter is left behind, and a channel opened late is closed). */
  createChannelUnless(signal: AbortSignal): Promise<Channel> {
    return this.openChannel((m) => m.createChannel(), { signal });
  }

  /** Closes the connection; a connect attempt under way gets CLOSE_WAIT_MS, then finishes (and is closed) in the background. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeBackoff?.();
    const err = new Error('Connection closed');
    for (const w of this.waiters.splice(0)) w.reject(err);
    this.settleInitial(err);
    this.model = undefined;
    this.metrics?.connected.reset();
    const closing = this.manager.close().catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closing, new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS).unref()))]);
    clearTimeout(timer);
  }

  private async openChannel<C extends Channel>(open: (m: ChannelModel) => Promise<C>, { signal }: ChannelRequest): Promise<C> {
    const model = await this.waitForModel(signal);
    const ch = await open(model);
    if (signal?.aborted) {
      // the caller gave up while the channel was opening: nobody holds it
      await ch.close().catch(() => undefined);
      throw signal.reason instanceof Error ? signal.reason : new Error('channel request aborted');
    }
    return ch;
  }

  private waitForModel(signal?: AbortSignal): Promise<ChannelModel> {
    if (this.model) return Promise.resolve(this.model);
    if (this.closed) return Promise.reject(new Error('Connection closed'));
    if (signal?.aborted) return Promise.reject(new Error('channel request aborted'));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (m) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(m);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error('no RabbitMQ node connected in time'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** findServers: the node list for the next round; after a round with no connection, back off first. */
  private async nextRound(order: string[]): Promise<string[]> {
    if (this.round++ > 0 && !this.closed) {
      const delay = backoffDelay(this.failedRounds, ROUND_BACKOFF);
      this.failedRounds++;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wakeBackoff = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeBackoff = undefined;
    }
    if (this.closed) throw new Error('Connection closed');
    return order;
  }

  private reason(err: unknown): string {
    return scrubSecrets(errorMessage(err), [this.settings.amqpUrl]);
  }

  /** A listener that throws must not break the manager's reconnect loop (it emits from its own handlers). */
  private safeEmit(event: string, ...args: unknown[]): void {
    try {
      this.emit(event, ...args);
    } catch (err) {
      this.options.logger.error({ err: this.reason(err), event }, 'AMQP connection listener failed');
    }
  }

  private settleInitial(err?: Error): void {
    const waiting = this.initial.splice(0);
    if (err) this.initialError = err;
    for (const w of waiting) {
      if (err) w.reject(err);
      else w.resolve();
    }
  }

  private onConnect(url: string): void {
    const model = this.manager.connection;
    if (!model || this.closed) return;
    model.on('error', (err: Error) => this.options.logger.warn({ err: this.reason(err), node: nodeName(url) }, 'AMQP connection error'));
    this.model = model;
    this.current = url;
    this.connectedAt = Date.now();
    this.failures.clear();
    this.failedAttempts = 0;
    this.round = 0;
    this.metrics?.connected.reset();
    this.metrics?.connected.set({ node: nodeName(url) }, 1);
    const { logger } = this.options;
    if (!this.connectedOnce) {
      logger.info({ node: nodeName(url), nodes: this.nodes.length }, 'AMQP connected');
    } else if (url !== this.last) {
      this.failovers++;
      this.metrics?.failovers.inc();
      logger.warn({ node: nodeName(url), from: this.last === undefined ? undefined : nodeName(this.last) }, 'AMQP failed over to another node');
    } else {
      logger.info({ node: nodeName(url) }, 'AMQP reconnected');
    }
    this.connectedOnce = true;
    this.last = url;
    for (const w of this.waiters.splice(0)) w.resolve(model);
    this.settleInitial();
    this.safeEmit('connect', model);
  }

  private onConnectFailed(url: string, err: unknown): void {
    if (this.closed) return;
    const { logger } = this.options;
    if (!this.connectedOnce) {
      this.failures.set(url, err);
      this.failedAttempts++;
      const rounds = Math.floor(this.failedAttempts / Math.max(1, this.nodes.length));
      // a refused login is final; a refused vhost only when every node says so (a booting node refuses it too)
      const everyNodeRefused = this.failures.size === this.nodes.length && [...this.failures.values()].every(isConfigRefusal);
      if (isLoginRefusal(err) || everyNodeRefused || rounds > (this.options.initialMaxRetries ?? 4)) {
        const failures = [...this.failures].map(([u, e]) => ({ url: u, err: e }));
        this.settleInitial(describeClusterConnectError(failures, this.nodes));
        void this.close();
        return;
      }
    }
    logger.info({ node: nodeName(url), err: this.reason(err) }, 'AMQP node did not answer; trying the next one');
  }

  private onDisconnect(err: unknown): void {
    if (this.closed) return;
    this.model = undefined;
    this.current = undefined;
    if (Date.now() - this.connectedAt >= STABLE_MS) this.failedRounds = 0;
    else this.round = 1; // dropped at once: the next round backs off
    if (this.last !== undefined) this.metrics?.connected.set({ node: nodeName(this.last) }, 0);
    this.options.logger.warn({ node: this.last === undefined ? undefined : nodeName(this.last), err: this.reason(err) }, 'AMQP connection lost; reconnecting');
    this.safeEmit('disconnect', err instanceof Error ? err : new Error(this.reason(err)));
  }
}

/** The connection type the long-running commands hold (the name amqplib's recovering model had). */
export type RecoveringChannelModel = AmqpConnection;

/**
 * Connects a long-running command: resolves at the first connection to any
 * node (failing after initialMaxRetries rounds, or at once when a node refuses
 * the login); afterwards reconnects, to the next node that answers, forever.
 */

export async function connectRecovering(settings: AmqpSettings, options: AmqpConnectionOptions): Promise<AmqpConnection> {
  const conn = new AmqpConnection(settings, options);
  await conn.waitForConnect();
  return conn;
}
