// A KV block and the LRU queue of free blocks: a doubly linked list threaded through the
// blocks themselves (prev/next), so that freeing, allocating and taking a block out of the
// middle (a prefix hit on a free cached block) are O(1) and allocate nothing.
import type { LocalBlockHash, SequenceHash } from "../../protocols/index.ts";

export class KvBlock {
  readonly id: number;
  /** Sequences holding this block; 0: the block is in the free queue. */
  refCount = 0;
  /** Sequence hash while the block is in the prefix cache, else null. */
  hash: SequenceHash | null = null;
  /** Local hash of the block's tokens, while cached. */
  tokensHash: LocalBlockHash | null = null;
  /** Sequence hash of the previous block of the sequence that filled it, while cached. */
  parentHash: SequenceHash | null = null;
  /** Free-queue links; null when not in the queue. */
  prev: KvBlock | null = null;
  next: KvBlock | null = null;

  constructor(id: number) {
    this.id = id;
  }
}

export class FreeBlockQueue {
  // Sentinels: every real block in the queue has non-null prev and next.
  private readonly head = new KvBlock(-1);
  private readonly tail = new KvBlock(-2);
  private size = 0;

  constructor() {
    this.head.next = this.tail;
    this.tail.prev = this.head;
  }

  get length(): number {
    return this.size;
  }

  /** Appends at the tail (most recently freed: evicted last). */
  append(block: KvBlock): void {
    const last = this.tail.prev!;
    block.prev = last;
    block.next = this.tail;
    last.next = block;
    this.tail.prev = block;
    this.size++;
  }

  /** Takes the head (least recently freed), or null when empty. */
  popFront(): KvBlock | null {
    const block = this.head.next!;
    if (block === this.tail) return null;
    this.remove(block);
    return block;
  }

  /** Unlinks a block that is in the queue. */
  remove(block: KvBlock): void {
    const prev = block.prev;
    const next = block.next;
    if (prev === null || next === null) throw new Error(`block ${block.id} is not in the free queue`);
    prev.next = next;
    next.prev = prev;
    block.prev = null;
    block.next = null;
    this.size--;
  }

  /** Block ids head to tail. */
  ids(): number[] {
    const out: number[] = [];
    for (let b = this.head.next!; b !== this.tail; b = b.next!) out.push(b.id);
    return out;
  }
}
