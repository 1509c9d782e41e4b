// What a call that may go to a tokenizer thread returned, where it must not have: no threads
// were given, so it is a plain value (a promise here is a bug: the short path must stay sync).
export function onLoop<T>(x: T | Promise<T>): T {
  if (x instanceof Promise) throw new Error("expected a value computed on the event loop, got a promise");
  return x;
}
