/**
 * Makes the events of one input (stdin run, file generation, generator) as
 * ready-to-send JSON. Ids are deterministic: a prefix hashed once from host
 * and scope (run id or file identity) followed by the sequence number or byte
 * offset in hex, so no per-event hashing. Plain lines are serialized from
 * precomputed fragments; the json codec goes through the general path.
 */
import { AFTER_TIMESTAMP, BEFORE_ID, END, HEAD, IsoClock, afterIdFragment, eventIdPrefix, logFragment, sequenceEventId, tailFragment } from '@logship/common';
import { TAG_JSON_FAILURE, TAG_TRUNCATED, eventFromLine, type Codec } from './codec.js';

export interface SerializedEvent {
  id: string;
  json: string;
  jsonFailure: boolean;
}

export interface EventFactoryOptions {
  hostName: string;
  inputType: string;
  codec: Codec;
  /** run id (stdin, generator) or file identity (files) */
  scope: string;
  /** log.file.path for file inputs; with it, n is the byte offset (log.offset) */
  filePath?: string;
}

export class EventFactory {
  private readonly prefix: string;
  /** from the id's closing quote to the end of host; for files, the log fields up to the offset; from input to the tags */
  private readonly afterId: string;
  private readonly log: string;
  private readonly tail: string;
  private readonly clock = new IsoClock();

  constructor(private readonly o: EventFactoryOptions) {
    this.prefix = eventIdPrefix(o.hostName, o.scope);
    this.afterId = afterIdFragment(o.hostName);
    this.log = o.filePath === undefined ? '' : logFragment(o.filePath);
    this.tail = tailFragment(o.inputType);
  }

  /** the event.id of sequence number (or byte offset) n */
  id(n: number): string {
    return sequenceEventId(this.prefix, n);
  }

  /**
   * The event of one line (or joined lines) with sequence number or offset n.
   * Never throws: if building a json event fails anyway, the line is shipped
   * as its raw text tagged _jsonparsefailure, so one line can never stop an
   * input (a bug here must not lose the line nor stall a file at it).
   */
  make(text: string, n: number, truncated: boolean, extraTags: readonly string[] = []): SerializedEvent {
    const id = this.id(n);
    const o = this.o;
    if (o.codec === 'json') {
      try {
        const event = eventFromLine(text, 'json', {
          id,
          hostName: o.hostName,
          inputType: o.inputType,
          truncated,
          ...(o.filePath !== undefined ? { filePath: o.filePath, offset: n } : {}),
        });
        for (const t of extraTags) if (!event.tags.includes(t)) event.tags.push(t);
        return { id, json: JSON.stringify(event), jsonFailure: event.tags.includes(TAG_JSON_FAILURE) };
      } catch {
        const tags = truncated ? [TAG_TRUNCATED, TAG_JSON_FAILURE] : [TAG_JSON_FAILURE];
        for (const t of extraTags) if (!tags.includes(t)) tags.push(t);
        return { id, json: this.plain(text, n, id, JSON.stringify(tags)), jsonFailure: true };
      }
    }
    let tags = '[]';
    if (truncated || extraTags.length > 0) tags = JSON.stringify(truncated ? [TAG_TRUNCATED, ...extraTags] : extraTags);
    return { id, json: this.plain(text, n, id, tags), jsonFailure: false };
  }

  /** the plain event of `text`, with its tags already as JSON (the layout of wire-format.ts) */
  private plain(text: string, n: number, id: string, tags: string): string {
    const log = this.log === '' ? '' : `${this.log}${n}}`;
    return `${HEAD}${this.clock.now()}${AFTER_TIMESTAMP}${JSON.stringify(text)}${BEFORE_ID}${id}${this.afterId}${log}${this.tail}${tags}${END}`;
  }
}
