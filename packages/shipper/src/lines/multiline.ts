/**
 * Joins lines into one event, as Filebeat's multiline and Logstash's
 * multiline codec do: a line "matches" when the pattern matches it (or does
 * not, with negate). With match=after, matching lines are appended to the
 * line before them (Java stack traces); with match=before, matching lines
 * start a group that the next non-matching line ends. The event keeps the
 * offset of its first line.
 *
 * The joined text is capped at `maxBytes` (UTF-8, the --max-line-bytes of a
 * line), as Filebeat's max_bytes: past it, lines are still consumed into the
 * group until it ends but their text is dropped and the event is truncated.
 * Without the cap a group could reach maxLines x maxLineBytes, more than
 * JSON.stringify or the broker's message size allow.
 */
import { utf8Boundary } from './line-clamp.js';

export interface MultilineOptions {
  pattern: RegExp;
  negate: boolean;
  match: 'after' | 'before';
  maxLines: number;
  /** bytes of the joined text (newlines included); the rest of the group is dropped */
  maxBytes: number;
}

export interface PhysicalLine {
  text: string;
  offset: number;
  end: number;
  truncated: boolean;
}

export interface JoinedEvent {
  text: string;
  offset: number;
  end: number;
  lines: number;
  truncated: boolean;
  /** the group hit --multiline-max-lines and was cut into several events */
  split: boolean;
}

interface Group {
  parts: string[];
  offset: number;
  end: number;
  lines: number;
  /** UTF-8 bytes of the text kept so far */
  bytes: number;
  truncated: boolean;
}

/** the longest prefix of `text` of at most `max` UTF-8 bytes, not splitting a character */
function utf8Prefix(text: string, max: number): string {
  const buf = Buffer.from(text, 'utf8');
  return buf.toString('utf8', 0, utf8Boundary(buf, max));
}

export class MultilineJoiner {
  private group: Group | null = null;

  constructor(private readonly o: MultilineOptions) {}

  get pending(): boolean {
    return this.group !== null;
  }

  /** Feeds a line; returns the events it completes (0, 1 or 2). */
  push(line: PhysicalLine): JoinedEvent[] {
    const matches = this.o.pattern.test(line.text) !== this.o.negate;
    const out: JoinedEvent[] = [];
    if (this.o.match === 'after') {
      if (!matches || this.group === null) {
        const done = this.flush();
        if (done) out.push(done);
      }
      this.add(line);
    } else {
      this.add(line);
      if (!matches) {
        const done = this.flush();
        if (done) out.push(done);
      }
    }
    if (this.group !== null && this.group.lines >= this.o.maxLines) {
      const done = this.flush(true);
      if (done) out.push(done);
    }
    return out;
  }

  private add(line: PhysicalLine): void {
    const g = this.group;
    if (g === null) {
      this.group = { parts: [], offset: line.offset, end: line.end, lines: 1, bytes: 0, truncated: line.truncated };
      this.append(this.group, line.text);
      return;
    }
    g.end = line.end;
    g.lines++;
    if (line.truncated) g.truncated = true;
    this.append(g, `\n${line.text}`);
  }

  /** Appends text up to maxBytes; what does not fit is dropped and the event marked truncated. */
  private append(g: Group, text: string): void {
    const room = this.o.maxBytes - g.bytes;
    if (room <= 0) {
      if (text !== '') g.truncated = true;
      return;
    }
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes <= room) {
      g.parts.push(text);
      g.bytes += bytes;
      return;
    }
    const kept = utf8Prefix(text, room);
    g.parts.push(kept);
    g.bytes += Buffer.byteLength(kept, 'utf8');
    g.truncated = true;
  }

  /** Ends the current group (EOF, timeout). */
  flush(split = false): JoinedEvent | undefined {
    const g = this.group;
    if (g === null) return undefined;
    this.group = null;
    return { text: g.parts.join(''), offset: g.offset, end: g.end, lines: g.lines, truncated: g.truncated, split };
  }
}
