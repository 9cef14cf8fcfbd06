/**
 * Joins lines into one event, as Filebeat's multiline and Logstash's
 * multiline codec do: a line "matches" when the pattern matches it (or does
 * not, with negate). With match=after, matching lines are appended to the
 * line before them (Java stack traces); with match=before, matching lines
 * start a group that the next non-matching line ends. The event keeps the
 * offset of its first line.
 */

export interface MultilineOptions {
  pattern: RegExp;
  negate: boolean;
  match: 'after' | 'before';
  maxLines: number;
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

export class MultilineJoiner {
  private group: PhysicalLine[] = [];

  constructor(private readonly o: MultilineOptions) {}

  get pending(): boolean {
    return this.group.length > 0;
  }

  /** Feeds a line; returns the events it completes (0, 1 or 2). */
  push(line: PhysicalLine): JoinedEvent[] {
    const matches = this.o.pattern.test(line.text) !== this.o.negate;
    const out: JoinedEvent[] = [];
    if (this.o.match === 'after') {
      if (!matches || this.group.length === 0) {
        const done = this.flush();
        if (done) out.push(done);
      }
      this.group.push(line);
    } else {
      this.group.push(line);
      if (!matches) {
        const done = this.flush();
        if (done) out.push(done);
      }
    }
    if (this.group.length >= this.o.maxLines) {
      const done = this.flush(true);
      if (done) out.push(done);
    }
    return out;
  }

  /** Ends the current group (EOF, timeout). */
  flush(split = false): JoinedEvent | undefined {
    const g = this.group;
    if (g.length === 0) return undefined;
    this.group = [];
    return {
      text: g.map((l) => l.text).join('\n'),
      offset: g[0]!.offset,
      end: g[g.length - 1]!.end,
      lines: g.length,
      truncated: g.some((l) => l.truncated),
      split,
    };
  }
}
