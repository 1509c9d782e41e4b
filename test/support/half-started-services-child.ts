// Child of test/support/services.test.ts: NATS starts, etcd fails (a bad flag). Prints what it
// saw as one JSON line and returns without process.exit: it must end on its own.
import { liveServices, startNatsAndEtcd } from "./services.ts";

try {
  await startNatsAndEtcd({ etcd: { extraArgs: ["--no-such-flag"] } });
  console.log(JSON.stringify({ started: true }));
} catch (err) {
  const e = err as { code?: string; output?: string };
  console.log(JSON.stringify({ started: false, code: e.code, output: e.output, live: liveServices() }));
}
