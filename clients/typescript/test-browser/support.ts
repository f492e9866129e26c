/**
 * Debian's Chromium driven by playwright-core (no browser download), and the stage every browser
 * test plays on: one origin (the test site) in front of a real Tessera.
 */
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";

import { chromium, type Browser } from "playwright-core";

import { startSite, type Site } from "../test/support/site.js";
import { packageRoot, startTessera, type Tessera, type TesseraOptions } from "../test/support/tessera.js";

export const artifacts = join(packageRoot, "test-artifacts");

export async function launchChromium(): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
  if (!existsSync(executablePath)) {
    throw new Error(`no Chromium at ${executablePath}: apt-get install chromium, or set CHROMIUM_BIN`);
  }
  await mkdir(artifacts, { recursive: true });
  // Playwright gives every launch a fresh temporary profile (user data dir) and adds --headless.
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

export interface Stage {
  site: Site;
  tessera: Tessera;
  close(): Promise<void>;
}

/** The site first (Tessera needs its URL as public URL), then Tessera behind it. */
export async function stage(mounts: Record<string, string>, config: TesseraOptions["config"] = {}): Promise<Stage> {
  const site = await startSite(mounts);
  const tessera = await startTessera({ publicUrl: site.url, config });
  site.tessera = tessera.url;
  return {
    site,
    tessera,
    close: async () => {
      await site.close();
      await tessera.stop();
    },
  };
}

/** Polls `condition` until it holds; the bound only stops a hang, it is not a timing claim. */
export async function eventually(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
