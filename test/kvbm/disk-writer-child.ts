// A G3 writer for the crash test: writes entries key 1, 2, ... with a payload derived from the
// key, saying "begin <key>" before and "done <key>" after each put, until it is killed.
import { DiskStore } from "../../src/kvbm/index.ts";
import { asLocalBlockHash, asSequenceHash } from "../../src/protocols/index.ts";

const dir = process.argv[2]!;
const size = Number(process.argv[3] ?? 8 << 20);
const store = new DiskStore(dir);
for (let k = 1; ; k++) {
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) payload[i] = (k + i) & 255;
  const key = asSequenceHash(BigInt(k));
  process.stdout.write(`begin ${k}\n`);
  await store.put({ key, bytes: size, parentHash: null, hashes: [key], tokensHashes: [asLocalBlockHash(BigInt(k))], numUses: 0 }, payload);
  process.stdout.write(`done ${k}\n`);
}
