// A tokenizer thread's entry (tokenizer-threads.ts starts it). Plain JavaScript: a worker
// thread does not inherit a TypeScript loader registered from code, so it registers tsx
// itself, as bin/turbine.js does, and then loads the thread's code.
import { register } from "tsx/esm/api";

register();
await import("./tokenizer-thread-main.ts");
