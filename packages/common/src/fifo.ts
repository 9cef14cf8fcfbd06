/**
 * The array-with-a-head FIFOs of logship (the consumer's outstanding
 * deliveries, the batcher's items, the shipper's line metadata and
 * confirmed offsets) read from a head index instead of shift(), which is
 * O(n). This drops the consumed prefix once it is over COMPACT_AFTER entries
 * and more than half of the array, so each entry is copied O(1) times.
 */
export const COMPACT_AFTER = 1024;

/** The array without its consumed prefix, and the new head; the same array and head when not due. */
export function compactFifo<T>(items: T[], head: number): { items: T[]; head: number } {
  if (head === items.length && head > 0) return { items: [], head: 0 };
  if (head > COMPACT_AFTER && head * 2 > items.length) return { items: items.slice(head), head: 0 };
  return { items, head };
}
