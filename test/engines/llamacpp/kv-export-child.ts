// Child process of kv-transfer.test.ts: prefills prompts on its own engine and prints their
// exported KV as JSON lines ({tokenIds, state (base64), numSequences, modelBytes}).
import { LlamaCppEngine } from "../../../src/engines/index.ts";

const [modelPath, promptsJson] = process.argv.slice(2);
const engine = await LlamaCppEngine.create({ modelPath: modelPath!, numSequences: 2, contextSize: 512 });
for (const prompt of JSON.parse(promptsJson!) as number[][]) {
  const kv = await engine.exportKv(prompt);
  process.stdout.write(JSON.stringify({ ...kv, state: Buffer.from(kv.state).toString("base64"), pid: process.pid }) + "\n");
}
await engine.close();
