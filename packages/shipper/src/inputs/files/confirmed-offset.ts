/**
 * Per-file confirmation order: events are confirmed in any order, but a
 * checkpoint may only move past an event when every event before it in the
 * file is confirmed too. Skipped lines (empty) count as confirmed at once.
 */
import { compactFifo } from '@logship/common';

interface Mark {
  end: number;
  confirmed: boolean;
}

export class ConfirmedOffset {
  private marks: Mark[] = [];
  private head = 0;

  /** offset up to which everything is confirmed */
  confirmed: number;
  /** offset up to which this process has read the file */
  readTo: number;

  constructor(start: number) {
    this.confirmed = start;
    this.readTo = start;
  }

  get pending(): number {
    return this.marks.length - this.head;
  }

  /** Registers an event ending at `end`; returns its mark for confirm(). */
  track(end: number): Mark {
    const mark = { end, confirmed: false };
    this.marks.push(mark);
    return mark;
  }

  /**
   * Folds `next`, the mark just tracked, into `prev`, the one tracked right
   * before it, when both wait for a confirm: the two events are settled
   * together (one message), so one mark ending at next's end stands for both.
   * Returns false (nothing changed) otherwise.
   */
  absorb(prev: Mark, next: Mark): boolean {
    const n = this.marks.length;
    if (n - this.head < 2 || this.marks[n - 1] !== next || this.marks[n - 2] !== prev || prev.confirmed || next.confirmed) return false;
    prev.end = next.end;
    this.marks.pop();
    return true;
  }

  /** A line that needs no confirm (skipped): moves the offset when nothing is pending before it. */
  skip(end: number): void {
    if (this.pending === 0) this.confirmed = Math.max(this.confirmed, end);
    else this.marks.push({ end, confirmed: true });
  }

  /** Marks an event confirmed; returns true if the confirmed offset moved. */
  confirm(mark: Mark): boolean {
    mark.confirmed = true;
    const before = this.confirmed;
    while (this.head < this.marks.length && this.marks[this.head]!.confirmed) {
      this.confirmed = Math.max(this.confirmed, this.marks[this.head]!.end);
      this.head++;
    }
    ({ items: this.marks, head: this.head } = compactFifo(this.marks, this.head));
    return this.confirmed !== before;
  }
}
