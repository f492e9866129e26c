/**
 * Coordination between the tabs of one origin, which share one cookie jar and so one refresh
 * cookie: two tabs refreshing it at once would present the same single-use token twice, which
 * the server reads as theft and answers by revoking the session.
 *
 * - The refresh runs under an exclusive Web Lock, so refreshes of all tabs are serialised.
 * - The tab that refreshed records when in IndexedDB before it releases the lock. A tab that
 *   gets the lock next reads that record and, when the refresh is newer than its failed
 *   request, retries with the cookies now in the jar instead of refreshing again. IndexedDB,
 *   not localStorage or a BroadcastChannel message: a committed transaction is visible to every
 *   later one, whereas the others reach other tabs asynchronously and could arrive after the
 *   lock.
 * - A BroadcastChannel tells the other tabs about sign-in, refresh and sign-out as they happen,
 *   and stands in for the lock where Web Locks are missing (older WebViews): a tab announces
 *   its refresh and the others wait for its end. That narrows the race without closing it.
 */

export interface SharedRecord {
  /** Epoch ms when the last refresh of this origin's cookies completed. */
  refreshedAt?: number;
  /** The CSRF token of the current cookie session, for tabs that open later. */
  csrfToken?: string;
  /** Epoch ms of the last sign-out in any tab. */
  signedOutAt?: number;
}

export type TabMessage =
  | { type: "signedin"; csrfToken?: string }
  | { type: "refreshed"; at: number }
  | { type: "signedout"; at: number }
  | { type: "busy"; id: string }
  | { type: "idle"; id: string };

const DB_NAME = "tessera-client";
const STORE = "shared";
/** How long the lockless fallback waits for another tab's refresh before doing its own. */
const FALLBACK_WAIT_MS = 10_000;

interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

export class TabCoordinator {
  readonly #name: string;
  readonly #channel: BroadcastChannel | undefined;
  readonly #locks: LockManagerLike | undefined;
  readonly #id = Math.random().toString(36).slice(2);
  readonly #busyTabs = new Set<string>();
  #idleWaiters: Array<() => void> = [];
  #db: Promise<IDBDatabase | undefined> | undefined;
  #listener: ((message: TabMessage) => void) | undefined;

  constructor(name: string, options: { useLocks?: boolean } = {}) {
    this.#name = name;
    const nav = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator;
    this.#locks = options.useLocks === false ? undefined : nav?.locks;
    if (typeof BroadcastChannel === "function") {
      this.#channel = new BroadcastChannel(`tessera:${name}`);
      this.#channel.onmessage = (event: MessageEvent<TabMessage>) => this.#received(event.data);
    }
  }

  /** Whether this environment has tabs to coordinate (a browser with IndexedDB). */
  static available(): boolean {
    return typeof indexedDB === "object" && indexedDB !== null && typeof BroadcastChannel === "function";
  }

  /** Whether refreshes are serialised by a Web Lock (rather than the fallback). */
  get hasLocks(): boolean {
    return this.#locks !== undefined;
  }

  onMessage(listener: (message: TabMessage) => void): void {
    this.#listener = listener;
  }

  post(message: TabMessage): void {
    this.#channel?.postMessage(message);
  }

  /** Runs `task` while no other tab runs one under the same name. */
  async exclusive<T>(task: () => Promise<T>): Promise<T> {
    if (this.#locks) {
      return this.#locks.request(`tessera-refresh:${this.#name}`, task);
    }
    const deadline = Date.now() + FALLBACK_WAIT_MS;
    while (this.#busyTabs.size > 0 && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.#idleWaiters.push(resolve);
        setTimeout(resolve, deadline - Date.now());
      });
    }
    this.post({ type: "busy", id: this.#id });
    try {
      return await task();
    } finally {
      this.post({ type: "idle", id: this.#id });
    }
  }

  async read(): Promise<SharedRecord | undefined> {
    const db = await this.#open();
    if (!db) return undefined;
    return new Promise((resolve) => {
      try {
        const request = db.transaction(STORE, "readonly").objectStore(STORE).get(this.#name);
        request.onsuccess = () => resolve(request.result as SharedRecord | undefined);
        request.onerror = () => resolve(undefined);
      } catch {
        resolve(undefined);
      }
    });
  }

  /** Merges `patch` into the record; resolves once committed, so it is visible to every tab. */
  async update(patch: SharedRecord): Promise<void> {
    const db = await this.#open();
    if (!db) return;
    await new Promise<void>((resolve) => {
      try {
        const tx = db.transaction(STORE, "readwrite");
        const store = tx.objectStore(STORE);
        const get = store.get(this.#name);
        get.onsuccess = () => store.put({ ...(get.result as SharedRecord | undefined), ...patch }, this.#name);
        tx.oncomplete = () => resolve();
        tx.onerror = () => resolve();
        tx.onabort = () => resolve();
      } catch {
        resolve();
      }
    });
  }

  close(): void {
    this.#channel?.close();
    void this.#db?.then((db) => db?.close());
  }

  #received(message: TabMessage): void {
    if (message.type === "busy") {
      this.#busyTabs.add(message.id);
    } else if (message.type === "idle") {
      this.#busyTabs.delete(message.id);
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      waiters.forEach((wake) => wake());
    }
    this.#listener?.(message);
  }

  /** The database, or undefined where IndexedDB is missing or refused (private modes). */
  #open(): Promise<IDBDatabase | undefined> {
    this.#db ??= new Promise((resolve) => {
      try {
        const request = indexedDB.open(DB_NAME, 1);
        request.onupgradeneeded = () => request.result.createObjectStore(STORE);
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => resolve(undefined);
        request.onblocked = () => resolve(undefined);
      } catch {
        resolve(undefined);
      }
    });
    return this.#db;
  }
}
