// G3: entries as files in a local folder. Crash-safe by construction: a frame is written to a
// temp file in the same folder, fsynced, then renamed over its final name, so a reader sees a
// whole file or none. A file that fails its checksum anyway (bit rot, a foreign writer, a
// filesystem that lied) is a miss and is deleted. Temp files left by a crashed writer are
// removed at open. A full disk (ENOSPC, EDQUOT) is reported so the policy stops offloading.
import { mkdirSync, readdirSync, unlinkSync } from "node:fs";
import { open, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { asSequenceHash } from "../protocols/index.ts";
import type { SequenceHash } from "../protocols/index.ts";
import { decodeEntry, encodeEntry, keyHex } from "./entry-codec.ts";
import type { DecodedEntry } from "./entry-codec.ts";
import type { TierEntry } from "./tier-lru.ts";

export type PutResult = "ok" | "full" | "error";

const SUFFIX = ".kvb";
/** Writes go out in chunks: memory stays bounded and a kill mid-write leaves a torn temp file. */
const CHUNK = 1 << 20;

export class DiskStore {
  readonly dir: string;
  private tmpSeq = 0;
  numCorrupt = 0;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
    for (const name of readdirSync(dir)) {
      if (name.startsWith(".tmp-")) {
        try {
          unlinkSync(join(dir, name));
        } catch {
          // another process's, already gone
        }
      }
    }
  }

  private path(key: SequenceHash): string {
    return join(this.dir, `${keyHex(key)}${SUFFIX}`);
  }

  /** Keys of the files present (a restart adopts them; each is verified when read). */
  keys(): SequenceHash[] {
    const out: SequenceHash[] = [];
    for (const name of readdirSync(this.dir)) {
      if (name.endsWith(SUFFIX) && name.length === 16 + SUFFIX.length) out.push(asSequenceHash(BigInt(`0x${name.slice(0, 16)}`)));
    }
    return out;
  }

  async put(entry: TierEntry, payload: Uint8Array): Promise<PutResult> {
    const frame = encodeEntry(entry, payload);
    const tmp = join(this.dir, `.tmp-${process.pid}-${this.tmpSeq++}`);
    let fh;
    try {
      fh = await open(tmp, "w");
      for (let off = 0; off < frame.length; off += CHUNK) await fh.write(frame, off, Math.min(CHUNK, frame.length - off));
      await fh.sync();
      await fh.close();
      fh = undefined;
      await rename(tmp, this.path(entry.key));
      return "ok";
    } catch (err) {
      await fh?.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      const code = (err as NodeJS.ErrnoException).code;
      return code === "ENOSPC" || code === "EDQUOT" ? "full" : "error";
    }
  }

  /** The entry stored under `key`, or null: absent, torn or corrupt (then deleted). */
  async get(key: SequenceHash): Promise<DecodedEntry | null> {
    let buf: Buffer;
    try {
      buf = await readFile(this.path(key));
    } catch {
      return null;
    }
    const decoded = decodeEntry(buf, key);
    if (decoded === null) {
      this.numCorrupt++;
      await unlink(this.path(key)).catch(() => undefined);
    }
    return decoded;
  }

  async delete(key: SequenceHash): Promise<void> {
    await unlink(this.path(key)).catch(() => undefined);
  }
}
