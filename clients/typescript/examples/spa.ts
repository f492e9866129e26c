import { TesseraClient } from "@tessera/client";

// Served from Tessera's origin: tokens stay in HttpOnly cookies, the client keeps the CSRF token.
export const tessera = new TesseraClient({ mode: "token" });
export const restored = tessera.restore(); // picks up a sign-in made in another tab
tessera.addEventListener("sessionended", () => (document.body.dataset.signedIn = "false")); // show the form

export async function signIn(email: string, password: string): Promise<void> {
  await tessera.login(email, password);
}

// A 401 refreshes once (one refresh for all concurrent calls and all tabs), then retries once.
export async function loadProfile(): Promise<{ user: string; session: string }> {
  const response = await tessera.fetch("/api/me");
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}
