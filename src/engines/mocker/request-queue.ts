// The waiting queue: a growable ring buffer with O(1) push at both ends (a preempted request
// goes back to the front) and pop at the front. A cancelled request stays in place and is
// dropped when it reaches the front, so cancelling costs no search.

export class RequestQueue<T> {
  private items: (T | undefined)[] = new Array<T | undefined>(16);
  private head = 0;
  private size = 0;

  /** Entries, cancelled ones included. */
  get length(): number {
    return this.size;
  }

  pushBack(item: T): void {
    if (this.size === this.items.length) this.grow();
    this.items[(this.head + this.size) & (this.items.length - 1)] = item;
    this.size++;
  }

  pushFront(item: T): void {
    if (this.size === this.items.length) this.grow();
    this.head = (this.head - 1) & (this.items.length - 1);
    this.items[this.head] = item;
    this.size++;
  }

  peekFront(): T | undefined {
    return this.size === 0 ? undefined : this.items[this.head];
  }

  popFront(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.size--;
    return item;
  }

  /** Entries front to back. */
  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.size; i++) out.push(this.items[(this.head + i) & (this.items.length - 1)]!);
    return out;
  }

  // Capacity stays a power of two so that indices wrap with a mask.
  private grow(): void {
    const next = new Array<T | undefined>(this.items.length * 2);
    for (let i = 0; i < this.size; i++) next[i] = this.items[(this.head + i) & (this.items.length - 1)];
    this.items = next;
    this.head = 0;
  }
}
