// Event plane: fire-and-forget publish/subscribe on subjects (KV events, load metrics,
// router sync). Subjects are dot-separated; a subscription may end in ">" to take every
// subject below it, as in NATS. Embedded form: an in-process emitter.
import { AsyncQueue } from "./async-queue.ts";
import type { Subscription } from "./async-queue.ts";

export interface EventPlane {
  publish(subject: string, data: unknown): void;
  subscribe<T>(subject: string, options?: { maxPending?: number }): Subscription<T>;
  close(): Promise<void>;
}

export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern.endsWith(".>")) return subject.startsWith(pattern.slice(0, -1));
  if (pattern === ">") return true;
  return pattern === subject;
}

export class MemoryEventPlane implements EventPlane {
  private readonly subs = new Set<{ pattern: string; queue: AsyncQueue<unknown> }>();

  publish(subject: string, data: unknown): void {
    for (const s of this.subs) if (subjectMatches(s.pattern, subject)) s.queue.push(data);
  }

  subscribe<T>(subject: string, options: { maxPending?: number } = {}): Subscription<T> {
    const sub = {
      pattern: subject,
      queue: new AsyncQueue<unknown>({ onReturn: () => this.subs.delete(sub), maxPending: options.maxPending ?? 0 }),
    };
    this.subs.add(sub);
    return sub.queue as AsyncQueue<T>;
  }

  async close(): Promise<void> {
    for (const s of this.subs) s.queue.end();
    this.subs.clear();
  }
}
