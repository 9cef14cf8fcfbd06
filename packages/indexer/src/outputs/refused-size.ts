/**
 * The smallest bulk body Elasticsearch (or a proxy in front of it, such as
 * nginx with its 1 MB client_max_body_size) answered 413, remembered for a
 * while. Without it every batch over the limit would be sent whole, refused,
 * halved and sent again, on every batch: 15 requests, 7 of them refused, for
 * each 5 MB batch behind a 1 MB limit. A batch at least that large is split
 * before it is sent; the limit is forgotten after `rememberMs` (a raised limit
 * is found again), and a single event is always sent (its 413 dead-letters it).
 */
export class RefusedSize {
  private smallest = Number.POSITIVE_INFINITY;
  private at = 0;

  constructor(
    readonly rememberMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** the smallest body refused within `rememberMs`, or Infinity */
  get bytes(): number {
    if (this.smallest !== Number.POSITIVE_INFINITY && this.now() - this.at > this.rememberMs) this.smallest = Number.POSITIVE_INFINITY;
    return this.smallest;
  }

  /** whether a body of `bytes` is to be split before it is sent */
  tooLarge(bytes: number): boolean {
    return bytes >= this.bytes;
  }

  /** notes a 413 for a body of `bytes` */
  refused(bytes: number): void {
    if (bytes < this.bytes) this.smallest = bytes;
    this.at = this.now();
  }
}
