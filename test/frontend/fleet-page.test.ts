// The fleet page end to end in headless Chromium: a running fleet of mocker worker processes
// shows up, the page follows a worker that joins and one that is killed, and routing decisions
// appear with their candidates. A screenshot is kept in test-artifacts/.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, statSync } from "node:fs";
import { complete, startFrontend, startWorker, until, useCluster, health } from "../support/fleet.ts";
import { artifactPath, launchChromium } from "../support/browser.ts";
import type { HeadlessBrowser } from "../support/browser.ts";

describe("frontend - the fleet page in a browser", () => {
  const fx = useCluster({ leaseTtl: 2 });
  let browser: HeadlessBrowser | undefined;
  after(() => browser?.close());

  test("frontend - /fleet shows the workers of a running fleet and follows one added and one killed", { timeout: 120_000 }, async () => {
    const mock = ["--engine", "mocker", "--model-name", "fleet", "--speedup", "10"];
    const [a, b] = await Promise.all([startWorker(fx.cluster, mock), startWorker(fx.cluster, [...mock, "--role", "aggregated"])]);
    fx.track(a!);
    fx.track(b!);
    const frontend = fx.track(await startFrontend(fx.cluster));
    await until("two workers", () => health(frontend.id), (h) => h.find((m) => m.model === "fleet")?.workers === 2);

    browser = await launchChromium();
    const page = await browser.newPage();
    const response = await page.goto(`${frontend.id}/fleet`);
    assert.equal(response?.status(), 200);
    const external: string[] = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(frontend.id)) external.push(r.url());
    });
    const stateOf = (id: string): Promise<string | null> =>
      page.locator(`tr[data-worker="${id}"] td:nth-child(4)`).textContent({ timeout: 1000 }).catch(() => null);
    await until("both workers on the page", async () => [await stateOf(a!.id), await stateOf(b!.id)], (s) => s.every((x) => x === "ready"));
    assert.equal(await page.locator("#conn").textContent(), "live");

    // Requests: decisions with candidates, and KV blocks on the workers.
    for (let i = 0; i < 4; i++) assert.equal((await complete(frontend.id, { model: "fleet", prompt: "the same long prefix ".repeat(10), max_tokens: 4 })).status, 200);
    await until("a decision with its candidates", () => page.locator("#decisions li").count(), (n) => n > 0);
    const decision = (await page.locator("#decisions li").first().textContent()) ?? "";
    assert.match(decision, /overlap \d+ cost [\d.]+/);
    await until(
      "KV blocks on a worker",
      () => page.locator("#workers tbody tr td:nth-child(5)").allTextContents(),
      (cells) => cells.some((c) => Number(c) > 0),
    );

    const c = fx.track(await startWorker(fx.cluster, mock));
    await until("the added worker", () => stateOf(c.id), (s) => s === "ready");
    a!.kill("SIGKILL");
    await until("the killed worker is gone", () => stateOf(a!.id), (s) => s === "gone", 20_000);
    assert.equal(await page.locator("#n-ready").textContent(), "2");
    assert.equal(await page.locator("#n-gone").textContent(), "1");

    const shot = artifactPath("fleet-page.png");
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(existsSync(shot) && statSync(shot).size > 5000, "the screenshot is kept");
    assert.deepEqual(external, [], "the page loads nothing from elsewhere");
    await page.close();
  });
});
