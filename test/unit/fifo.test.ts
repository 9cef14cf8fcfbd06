/** compactFifo: the one "drop the consumed prefix" of the head-indexed FIFOs (consumer, batcher, line clamp, confirmed offsets). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COMPACT_AFTER, compactFifo } from '@logship/common';

describe('compactFifo', () => {
  it('keeps the array while the consumed prefix is short or not most of it', () => {
    const items = Array.from({ length: 3000 }, (_, i) => i);
    assert.equal(compactFifo(items, 10).items, items);
    assert.equal(compactFifo(items, COMPACT_AFTER + 1).items, items, 'over 1024 but not half of 3000');
  });

  it('drops the consumed prefix once it is over 1024 entries and more than half, keeping the order', () => {
    const items = Array.from({ length: 2000 }, (_, i) => i);
    const { items: rest, head } = compactFifo(items, 1500);
    assert.equal(head, 0);
    assert.deepEqual(
      rest,
      Array.from({ length: 500 }, (_, i) => 1500 + i),
    );
  });

  it('empties a fully consumed array at any size', () => {
    assert.deepEqual(compactFifo([1, 2, 3], 3), { items: [], head: 0 });
    const empty: number[] = [];
    assert.equal(compactFifo(empty, 0).items, empty);
  });

  it('a FIFO that compacts as it goes hands entries out in order and stays within twice what it holds plus 1024', () => {
    let items: number[] = [];
    let head = 0;
    let next = 0;
    let expected = 0;
    for (let step = 0; step < 60_000; step++) {
      // fills for a while, then drains faster than it fills
      const pushes = step < 30_000 ? 2 : 1;
      const takes = step < 30_000 ? 1 : 2;
      for (let i = 0; i < pushes; i++) items.push(next++);
      for (let i = 0; i < takes && head < items.length; i++) {
        assert.equal(items[head], expected++);
        head++;
        ({ items, head } = compactFifo(items, head));
      }
      const held = items.length - head;
      assert.ok(items.length <= 2 * held + COMPACT_AFTER + 2, `array of ${items.length} for ${held} held`);
    }
  });
});
