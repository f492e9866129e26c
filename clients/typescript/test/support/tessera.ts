/**
 * Starts a real `tessera serve` (the release binary, `TESSERA_BIN`) on a free port with a fresh
 * SQLite database in a temporary directory, and stops it when the test is over.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
/** clients/typescript, from build/test/support. */
export const packageRoot = resolve(here, "..", "..", "..");

export function tesseraBinary(): string {
  const bin = process.env.TESSERA_BIN ?? resolve(packageRoot, "..", "..", "target", "release", "tessera");
  if (!existsSync(bin)) {
    throw new Error(`no tessera binary at ${bin}: build it (cargo build --release -p tessera-server) or set TESSERA_BIN`);
  }
  return bin;
}

export interface TesseraOptions {
  /** `server.public_url`: the origin browsers see (the test proxy's). */
  publicUrl?: string;
  /** Extra TOML, keyed by section: `{ token: { access_ttl: "2s" } }`. */
  config?: Record<string, Record<string, string | number | boolean | string[]>>;
}

export interface Tessera {
  /** Where the server itself listens. */
  url: string;
  publicUrl: string;
  adminKey: string;
  /** The server's output so far (for failure messages). */
  log(): string;
  /** Registers a resource-server client (`POST /v1/admin/clients`). */
  addClient(name: string): Promise<{ client_id: string; client_secret: string }>;
  /** `GET /v1/admin/events` of one type, newest first. */
  events(type: string): Promise<Array<{ type: string; user_id: string | null; session_id: string | null }>>;
  stop(): Promise<void>;
}

function toml(value: string | number | boolean | string[]): string {
  if (Array.isArray(value)) return `[${value.map((v) => JSON.stringify(v)).join(", ")}]`;
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

export async function startTessera(options: TesseraOptions = {}): Promise<Tessera> {
  const dir = await mkdtemp(join(tmpdir(), "tessera-sdk-"));
  const publicUrl = options.publicUrl ?? "http://tessera.test";
  const adminKey = randomBytes(24).toString("hex");
  const sections: Record<string, Record<string, string | number | boolean | string[]>> = {
    server: { listen: "127.0.0.1:0", public_url: publicUrl },
    store: { url: `sqlite://${join(dir, "tessera.db")}` },
    admin: { api_key: adminKey },
    // Every request of a test comes from 127.0.0.1: the per-IP throttles would trip.
    limits: {
      login_per_ip: "1000/min",
      login_attempts_per_ip: "1000/min",
      signup_per_ip: "1000/min",
      signup_global: "1000/min",
    },
    password: { hashing_slots: 2 },
  };
  for (const [section, keys] of Object.entries(options.config ?? {})) {
    sections[section] = { ...sections[section], ...keys };
  }
  const text = Object.entries(sections)
    .map(([section, keys]) => `[${section}]\n${Object.entries(keys).map(([k, v]) => `${k} = ${toml(v)}`).join("\n")}\n`)
    .join("\n");
  const configPath = join(dir, "tessera.toml");
  await writeFile(configPath, text);

  let binary: string;
  try {
    binary = tesseraBinary();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const child: ChildProcess = spawn(binary, ["serve", "--config", configPath], {
    cwd: dir,
    env: { ...process.env, NO_COLOR: "1", RUST_LOG: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const started = new Promise<string>((resolveUrl, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      // eslint-disable-next-line no-control-regex
      const match = /listening on (\d+\.\d+\.\d+\.\d+:\d+)/.exec(output.replace(/\x1b\[[0-9;]*m/g, ""));
      if (match) resolveUrl(`http://${match[1]}`);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`tessera exited (${code}) before listening:\n${output}`)));
    child.once("error", reject);
  });
  let url: string;
  try {
    url = await started;
  } catch (error) {
    child.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  const admin = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(`${url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json", ...init.headers },
    });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${await response.text()}`);
    return response.json();
  };

  return {
    url,
    publicUrl,
    adminKey,
    log: () => output,
    addClient: (name) => admin("/v1/admin/clients", { method: "POST", body: JSON.stringify({ name }) }),
    events: async (type) => (await admin(`/v1/admin/events?type=${encodeURIComponent(type)}&limit=500`)).events,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh address for each test, so tests never share an account. */
export function uniqueEmail(label = "user"): string {
  return `${label}-${randomBytes(6).toString("hex")}@example.com`;
}

/** A password that passes the server's policy. */
export const PASSWORD = "correct horse battery staple";
