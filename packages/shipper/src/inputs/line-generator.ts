/** Synthetic, realistic log lines for test traffic: plain, json, nginx and syslog formats. */

export type GenFormat = 'plain' | 'json' | 'nginx' | 'syslog';
export type GenLevel = 'mixed' | 'debug' | 'info' | 'warn' | 'error';

const SERVICES = ['checkout', 'auth', 'catalog', 'search', 'payments', 'gateway'];
const PATHS = ['/api/v1/orders', '/api/v1/users/42', '/api/v1/cart', '/login', '/static/app.js', '/api/v1/search?q=shoes', '/health'];
const AGENTS = ['Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0', 'curl/8.5.0', 'Go-http-client/1.1', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Safari/604.1'];
const MESSAGES: Record<Exclude<GenLevel, 'mixed'>, string[]> = {
  debug: ['cache lookup key=%k hit=%b', 'opened db connection pool size=%n', 'retrying request attempt=%n'],
  info: ['request completed method=GET path=%p status=200 duration_ms=%n', 'user %u logged in', 'order %o created total=%n.99 EUR', 'job %o finished in %nms'],
  warn: ['slow query took %nms table=orders', 'retrying upstream call to %s after timeout', 'rate limit close for client %u'],
  error: ['upstream %s returned 503 after %nms', 'failed to charge order %o: card declined', 'unhandled exception in worker %n: NullPointerException'],
};
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const SEVERITY: Record<Exclude<GenLevel, 'mixed'>, number> = { debug: 7, info: 6, warn: 4, error: 3 };

export class LineGenerator {
  private seq = 0;
  private seed: number;

  constructor(
    private readonly format: GenFormat,
    private readonly level: GenLevel,
    private readonly host = 'web-01',
    seed = 1,
  ) {
    this.seed = seed >>> 0 || 1;
  }

  private rand(): number {
    this.seed ^= this.seed << 13;
    this.seed ^= this.seed >>> 17;
    this.seed ^= this.seed << 5;
    return (this.seed >>> 0) / 4294967296;
  }

  private pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.rand() * list.length)]!;
  }

  private levelFor(): Exclude<GenLevel, 'mixed'> {
    if (this.level !== 'mixed') return this.level;
    const r = this.rand();
    return r < 0.1 ? 'debug' : r < 0.8 ? 'info' : r < 0.95 ? 'warn' : 'error';
  }

  private message(level: Exclude<GenLevel, 'mixed'>): string {
    return this.pick(MESSAGES[level]).replace(/%[kbnpuos]/g, (t) => {
      switch (t) {
        case '%k':
          return `sess:${Math.floor(this.rand() * 1e6)}`;
        case '%b':
          return this.rand() < 0.8 ? 'true' : 'false';
        case '%n':
          return String(Math.floor(this.rand() * 900) + 10);
        case '%p':
          return this.pick(PATHS);
        case '%u':
          return `user${Math.floor(this.rand() * 5000)}`;
        case '%o':
          return `ord-${Math.floor(this.rand() * 1e8).toString(36)}`;
        default:
          return this.pick(SERVICES);
      }
    });
  }

  /** The next line, stamped with `now`. */
  next(now = new Date()): string {
    const n = this.seq++;
    const level = this.levelFor();
    const service = this.pick(SERVICES);
    switch (this.format) {
      case 'json':
        return JSON.stringify({
          '@timestamp': now.toISOString(),
          level,
          service,
          message: this.message(level),
          trace_id: `${n.toString(16).padStart(8, '0')}${Math.floor(this.rand() * 0xffffffff)
            .toString(16)
            .padStart(8, '0')}`,
        });
      case 'nginx': {
        const status = level === 'error' ? 502 : level === 'warn' ? 404 : 200;
        const d = now;
        const stamp = `${String(d.getUTCDate()).padStart(2, '0')}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${d.toISOString().slice(11, 19)} +0000`;
        const ip = `10.${Math.floor(this.rand() * 255)}.${Math.floor(this.rand() * 255)}.${Math.floor(this.rand() * 254) + 1}`;
        return `${ip} - - [${stamp}] "GET ${this.pick(PATHS)} HTTP/1.1" ${status} ${Math.floor(this.rand() * 50000)} "-" "${this.pick(AGENTS)}"`;
      }
      case 'syslog': {
        const pri = 8 + SEVERITY[level]; // facility user
        const d = now;
        const stamp = `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${d.toISOString().slice(11, 19)}`;
        return `<${pri}>${stamp} ${this.host} ${service}[${1000 + (n % 500)}]: ${this.message(level)}`;
      }
      default:
        return `${now.toISOString()} ${level.toUpperCase().padEnd(5)} [${service}] ${this.message(level)}`;
    }
  }
}
