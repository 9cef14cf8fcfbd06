/**
 * The generator's service (`logship generate --serve`): POST /generate
 * publishes that many synthetic events through the shipper's session
 * (persistent, confirmed) and answers how many were published. Work in
 * progress is bounded over all requests; a client that goes away stops its
 * generation. The HTTP server around it is started by commands/generate.ts.
 */
import { randomUUID } from 'node:crypto';
import { errorMessage, isObject, scrubConfigSecrets, type Config, type Health, type Logger, type Registry, type RouteResponse } from '@logship/common';
import { EventFactory, LineGenerator, ShipSession, type GenFormat, type GenLevel } from '@logship/shipper';

export const MAX_EVENTS_PER_REQUEST = 100_000;
/**
 * Events accepted and not yet settled, over all requests: a request that
 * would go over it gets 429 (so 20 clients at once cannot queue 2 M events).
 */
export const MAX_EVENTS_IN_PROGRESS = MAX_EVENTS_PER_REQUEST;
const LEVELS: GenLevel[] = ['mixed', 'debug', 'info', 'warn', 'error'];
const FORMATS: GenFormat[] = ['plain', 'json', 'nginx', 'syslog'];

export interface GenerateRequest {
  count: number;
  level: GenLevel;
  format: GenFormat;
}

/** Validates a POST /generate body; returns the request or the reason for a 400. */
export function parseGenerateBody(body: string, defaults: { level: GenLevel; format: GenFormat }): GenerateRequest | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return 'body must be JSON such as {"count": 500, "level": "info"}';
  }
  if (!isObject(parsed)) return 'body must be a JSON object such as {"count": 500, "level": "info"}';
  const unknown = Object.keys(parsed).filter((k) => !['count', 'level', 'format'].includes(k));
  if (unknown.length > 0) return `unknown field(s): ${unknown.join(', ')}; allowed: count, level, format`;
  const { count, level, format } = parsed;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_EVENTS_PER_REQUEST) {
    return `count must be a whole number from 1 to ${MAX_EVENTS_PER_REQUEST}`;
  }
  if (level !== undefined && !LEVELS.includes(level as GenLevel)) return `level must be one of ${LEVELS.join(', ')}`;
  if (format !== undefined && !FORMATS.includes(format as GenFormat)) return `format must be one of ${FORMATS.join(', ')}`;
  return { count, level: (level as GenLevel | undefined) ?? defaults.level, format: (format as GenFormat | undefined) ?? defaults.format };
}

interface Pending {
  left: number;
  published: number;
  failed: number;
  done: () => void;
}

const json = (status: number, body: unknown, headers?: Record<string, string>): RouteResponse => ({
  status,
  type: 'application/json',
  ...(headers ? { headers } : {}),
  body: JSON.stringify(body),
});

export class GeneratorService {
  private readonly session: ShipSession<number>;
  private readonly pending = new Map<number, Pending>();
  private readonly factories: Record<'plain' | 'json', EventFactory>;
  private seq = 0;
  private nextRequest = 0;
  private totalPublished = 0;
  private inProgress = 0;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    registry: Registry,
  ) {
    this.session = new ShipSession<number>({
      config,
      logger,
      registry,
      onSettled: (req, outcome) => {
        const p = this.pending.get(req);
        if (!p) return;
        if (outcome === 'confirmed') p.published++;
        else p.failed++;
        if (--p.left === 0) p.done();
      },
    });
    const runId = randomUUID();
    this.factories = {
      plain: new EventFactory({ hostName: config.hostName, inputType: 'generator', codec: 'plain', scope: runId }),
      json: new EventFactory({ hostName: config.hostName, inputType: 'generator', codec: 'json', scope: runId }),
    };
  }

  /** Connects to the broker (the exchange must exist). */
  open(): Promise<void> {
    return this.session.open();
  }

  /** Publishes what is left and closes the connection. */
  async close(): Promise<void> {
    await this.session.flush();
    await this.session.close();
  }

  health(): Health {
    const session = this.session;
    const failure = session.failure;
    return {
      status: failure ? 'down' : session.blocked ? 'degraded' : 'ok',
      amqp: { error: failure ? scrubConfigSecrets(failure.message, this.config) : null, blocked: session.blocked },
      published: this.totalPublished,
    };
  }

  /** GET /api/stats */
  stats(): { published: number; inflight: number; inProgress: number; summary: ShipSession['summary'] } {
    return { published: this.totalPublished, inflight: this.session.inflight, inProgress: this.inProgress, summary: this.session.summary };
  }

  /** POST /generate: 200 with the counts, 400 for a bad body, 429 when busy, 502 when some failed, 503 without the broker. */
  async post(body: string, signal: AbortSignal): Promise<RouteResponse> {
    const parsed = parseGenerateBody(body, { level: this.config.level, format: this.config.format });
    if (typeof parsed === 'string') return json(400, { error: parsed });
    if (this.session.failure) {
      // the detail is in the log (and on /health); a browser gets no internal error text
      return json(503, { error: 'RabbitMQ is not available: see the generator log' });
    }
    const inProgress = this.inProgress;
    if (inProgress + parsed.count > MAX_EVENTS_IN_PROGRESS) {
      // about the time the events in progress take at a few tens of thousands per second
      const retryAfter = String(Math.max(1, Math.ceil(inProgress / 50_000)));
      return json(
        429,
        {
          error: `busy: ${inProgress} event(s) in progress, at most ${MAX_EVENTS_IN_PROGRESS} at once; retry after ${retryAfter} s`,
          inProgress,
          limit: MAX_EVENTS_IN_PROGRESS,
        },
        { 'retry-after': retryAfter },
      );
    }
    try {
      const r = await this.generate(parsed, signal);
      return json(r.failed > 0 ? 502 : 200, { requested: parsed.count, published: r.published, failed: r.failed });
    } catch (err) {
      this.logger.error({ err: scrubConfigSecrets(errorMessage(err), this.config) }, 'POST /generate failed');
      return json(503, { error: 'generation failed: see the generator log' });
    }
  }

  /** Generates req.count events, or fewer if the client goes away (what was submitted is still settled and counted). */
  private async generate(req: GenerateRequest, signal: AbortSignal): Promise<{ published: number; failed: number }> {
    const session = this.session;
    const id = this.nextRequest++;
    const gen = new LineGenerator(req.format, req.level, this.config.hostName, Date.now() + id);
    const factory = this.factories[req.format === 'json' ? 'json' : 'plain'];
    const result = { left: req.count, published: 0, failed: 0, generated: 0, done: (): void => undefined };
    const settled = new Promise<void>((resolve) => (result.done = resolve));
    this.pending.set(id, result);
    this.inProgress += req.count;
    try {
      while (result.generated < req.count && !signal.aborted) {
        const event = factory.make(gen.next(), this.seq++, false);
        session.countRead();
        result.generated++;
        await session.submit(event, id);
      }
      // the events never generated will never settle
      result.left -= req.count - result.generated;
      if (result.left === 0) result.done();
      await session.flush();
      await settled;
    } finally {
      this.pending.delete(id);
      this.inProgress -= req.count;
    }
    this.totalPublished += result.published;
    if (signal.aborted)
      this.logger.info({ requested: req.count, generated: result.generated, published: result.published }, 'client went away: generation stopped');
    return result;
  }
}
