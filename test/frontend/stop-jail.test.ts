import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { StopJail } from "../../src/frontend/index.ts";

/** Splits `text` at the given cut points (reduced modulo its length). */
function pieces(text: string, cuts: readonly number[]): string[] {
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let start = 0;
  for (const p of points) {
    out.push(text.slice(start, p));
    start = p;
  }
  out.push(text.slice(start));
  return out;
}

/** The expected output: the text before the earliest occurrence of any stop string. */
function expected(text: string, stops: readonly string[]): { text: string; stopped: boolean } {
  let cut = -1;
  for (const s of stops) {
    const at = text.indexOf(s);
    if (at !== -1 && (cut === -1 || at < cut)) cut = at;
  }
  return cut === -1 ? { text, stopped: false } : { text: text.slice(0, cut), stopped: true };
}

// A small alphabet (with an astral character) so that stop strings actually occur.
const char = fc.constantFrom("a", "b", "c", "😀");
const text = fc.array(char, { maxLength: 30 }).map((cs) => cs.join(""));
const stopString = fc.array(char, { minLength: 1, maxLength: 4 }).map((cs) => cs.join(""));
const stops = fc.array(stopString, { minLength: 1, maxLength: 5 });
const cuts = fc.array(fc.nat(), { maxLength: 30 });

test("stop jail - any chunking emits exactly the text before the earliest stop string", () => {
  fc.assert(
    fc.property(text, stops, cuts, (full, stopStrings, cutPoints) => {
      const jail = new StopJail(stopStrings);
      let emitted = "";
      let stopped = false;
      let stopString: string | undefined;
      for (const piece of pieces(full, cutPoints)) {
        const r = jail.push(piece);
        emitted += r.text;
        // No emitted prefix ever contains a stop string.
        for (const s of stopStrings) assert.ok(!emitted.includes(s), `${JSON.stringify(emitted)} contains ${s}`);
        if (r.stopped) {
          stopped = true;
          stopString = r.stopString;
          break;
        }
      }
      if (!stopped) {
        emitted += jail.flush();
        stopped = jail.stopped;
        stopString = jail.stopString;
      }
      const want = expected(full, stopStrings);
      assert.equal(emitted, want.text);
      assert.equal(stopped, want.stopped);
      if (stopped) {
        assert.ok(stopString !== undefined && stopStrings.includes(stopString));
        assert.ok(full.startsWith(want.text + stopString), `stop string ${stopString} is not at the cut`);
      }
    }),
    { numRuns: 1000 },
  );
});

test("stop jail - a stop string split across many pieces never leaks", () => {
  const jail = new StopJail(["</answer>"]);
  const out: string[] = [];
  for (const piece of ["The answer is 4", "<", "/", "ans", "w", "er", ">", "trailing"]) {
    const r = jail.push(piece);
    out.push(r.text);
    if (r.stopped) {
      assert.equal(r.stopString, "</answer>");
      break;
    }
  }
  assert.deepEqual(out, ["The answer is 4", "", "", "", "", "", ""]);
  assert.ok(jail.stopped);
  assert.deepEqual(jail.push("more"), { text: "", stopped: true });
  assert.equal(jail.flush(), "");
});

test("stop jail - a false start is released as soon as it stops matching", () => {
  const jail = new StopJail(["STOP"]);
  assert.deepEqual(jail.push("go ST"), { text: "go ", stopped: false });
  assert.deepEqual(jail.push("O"), { text: "", stopped: false });
  assert.deepEqual(jail.push("P!"), { text: "", stopped: true, stopString: "STOP" });

  const other = new StopJail(["STOP"]);
  assert.equal(other.push("ST").text, "");
  assert.equal(other.push("ART").text, "START");
  assert.equal(other.push("S").text, "");
  assert.equal(other.flush(), "S");
});

test("stop jail - the earliest occurrence wins, even when a later stop string completes first", () => {
  const jail = new StopJail(["b", "abc"]);
  assert.deepEqual(jail.push("xab"), { text: "x", stopped: false });
  assert.deepEqual(jail.push("c"), { text: "", stopped: true, stopString: "abc" });

  // When "abc" fails, "b" stops.
  const other = new StopJail(["b", "abc"]);
  assert.equal(other.push("xab").text, "x");
  assert.deepEqual(other.push("d"), { text: "a", stopped: true, stopString: "b" });
});

test("stop jail - at the end, a complete stop string held up by an incomplete earlier one applies", () => {
  const jail = new StopJail(["aca", "c"]);
  assert.deepEqual(jail.push("xac"), { text: "x", stopped: false });
  assert.equal(jail.stopped, false);
  assert.equal(jail.flush(), "a");
  assert.equal(jail.stopped, true);
  assert.equal(jail.stopString, "c");
});

test("stop jail - no stop strings (or only empty ones) pass text straight through", () => {
  for (const stopStrings of [[], [""]]) {
    const jail = new StopJail(stopStrings);
    assert.deepEqual(jail.push("hello"), { text: "hello", stopped: false });
    assert.equal(jail.flush(), "");
  }
});

test("stop jail - a stop string at the very start emits nothing", () => {
  const jail = new StopJail(["\n\n", "###"]);
  assert.deepEqual(jail.push("###"), { text: "", stopped: true, stopString: "###" });
});
