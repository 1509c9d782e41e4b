// The simulator's event queue: a binary min-heap ordered by (time, sequence number). The
// sequence number is assigned at push, so events at the same time pop in the order they were
// scheduled: ties are deterministic, never left to the heap's shape. Struct of arrays (typed),
// so pushing and popping allocate nothing once the arrays have grown.

export class EventQueue {
  private times = new Float64Array(1024);
  private seqs = new Float64Array(1024);
  private kinds = new Int32Array(1024);
  private payloads = new Int32Array(1024);
  private n = 0;
  private nextSeq = 0;

  /** Time, kind and payload of the last popped event. */
  time = 0;
  kind = 0;
  payload = 0;

  get size(): number {
    return this.n;
  }

  /** Schedules an event; returns its sequence number. */
  push(time: number, kind: number, payload: number): number {
    if (this.n === this.times.length) this.grow();
    const seq = this.nextSeq++;
    let i = this.n++;
    // Sift up.
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = this.times[parent]!;
      if (pt < time || (pt === time && this.seqs[parent]! < seq)) break;
      this.move(parent, i);
      i = parent;
    }
    this.times[i] = time;
    this.seqs[i] = seq;
    this.kinds[i] = kind;
    this.payloads[i] = payload;
    return seq;
  }

  /** Time of the next event; +Infinity when empty. */
  peekTime(): number {
    return this.n > 0 ? this.times[0]! : Number.POSITIVE_INFINITY;
  }

  /** Pops the earliest event into (time, kind, payload); false when empty. */
  pop(): boolean {
    if (this.n === 0) return false;
    this.time = this.times[0]!;
    this.kind = this.kinds[0]!;
    this.payload = this.payloads[0]!;
    const last = --this.n;
    if (last === 0) return true;
    const t = this.times[last]!;
    const s = this.seqs[last]!;
    const k = this.kinds[last]!;
    const p = this.payloads[last]!;
    let i = 0;
    // Sift down.
    for (;;) {
      let c = 2 * i + 1;
      if (c >= last) break;
      const r = c + 1;
      if (r < last && (this.times[r]! < this.times[c]! || (this.times[r] === this.times[c] && this.seqs[r]! < this.seqs[c]!))) c = r;
      const ct = this.times[c]!;
      if (t < ct || (t === ct && s < this.seqs[c]!)) break;
      this.move(c, i);
      i = c;
    }
    this.times[i] = t;
    this.seqs[i] = s;
    this.kinds[i] = k;
    this.payloads[i] = p;
    return true;
  }

  private move(from: number, to: number): void {
    this.times[to] = this.times[from]!;
    this.seqs[to] = this.seqs[from]!;
    this.kinds[to] = this.kinds[from]!;
    this.payloads[to] = this.payloads[from]!;
  }

  private grow(): void {
    const cap = this.times.length * 2;
    const t = new Float64Array(cap);
    t.set(this.times);
    this.times = t;
    const s = new Float64Array(cap);
    s.set(this.seqs);
    this.seqs = s;
    const k = new Int32Array(cap);
    k.set(this.kinds);
    this.kinds = k;
    const p = new Int32Array(cap);
    p.set(this.payloads);
    this.payloads = p;
  }
}
