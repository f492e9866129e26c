import { createServer } from "node:http";
import { GuardError, TesseraGuard, type GuardOptions } from "@tessera/client/node";

// Verifies access tokens locally (JWKS) and refuses revoked sessions (revocation stream).
export async function startApi(options: GuardOptions) {
  const guard = await TesseraGuard.start(options); // { issuer, clientId, clientSecret }
  const server = createServer(async (req, res) => {
    try {
      const { user, session } = await guard.verifyRequest(req);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ user, session }));
    } catch (error) {
      if (!(error instanceof GuardError)) throw error;
      res.writeHead(error.status, { "www-authenticate": error.wwwAuthenticate }).end();
    }
  });
  return { guard, server: server.listen(0, "127.0.0.1") };
}
