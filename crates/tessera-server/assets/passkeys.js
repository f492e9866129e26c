// Passkeys on /login and /account: served as /passkeys.js (the pages' CSP allows scripts from
// 'self' only, no inline script). Everything else on those pages works without it.
"use strict";
(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  const b64 = {
    decode(s) {
      s = s.replace(/-/g, "+").replace(/_/g, "/");
      while (s.length % 4) s += "=";
      return Uint8Array.from(atob(s), (c) => c.charCodeAt(0)).buffer;
    },
    encode(buf) {
      let s = "";
      for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
      return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    },
  };

  function creationOptions(o) {
    const pk = Object.assign({}, o.publicKey);
    pk.challenge = b64.decode(pk.challenge);
    pk.user = Object.assign({}, pk.user, { id: b64.decode(pk.user.id) });
    pk.excludeCredentials = (pk.excludeCredentials || []).map((c) =>
      Object.assign({}, c, { id: b64.decode(c.id) }));
    return { publicKey: pk };
  }

  function requestOptions(o) {
    const pk = Object.assign({}, o.publicKey);
    pk.challenge = b64.decode(pk.challenge);
    pk.allowCredentials = (pk.allowCredentials || []).map((c) =>
      Object.assign({}, c, { id: b64.decode(c.id) }));
    const out = { publicKey: pk };
    if (o.mediation) out.mediation = o.mediation;
    return out;
  }

  function credentialJSON(c) {
    const r = c.response;
    const response = { clientDataJSON: b64.encode(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = b64.encode(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = b64.encode(r.authenticatorData);
      response.signature = b64.encode(r.signature);
      response.userHandle = r.userHandle ? b64.encode(r.userHandle) : null;
    }
    return {
      id: c.id,
      rawId: b64.encode(c.rawId),
      type: c.type,
      response,
      extensions: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
    };
  }

  async function post(path, body, csrf) {
    const headers = { "Content-Type": "application/json" };
    if (csrf) headers["X-CSRF-Token"] = csrf;
    const r = await fetch(path, {
      method: "POST", credentials: "same-origin", headers, body: JSON.stringify(body || {}),
    });
    const data = r.status === 204 ? {} : await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(data.error_description || "The request failed.");
    return data;
  }

  function say(el, text) {
    if (el) { el.textContent = text; el.hidden = false; }
  }

  // /login: "Sign in with a passkey", and passkeys offered in the email field's autofill.
  async function signIn(conditional) {
    const status = document.getElementById("passkey-status");
    const started = await post("/v1/session/passkey/options");
    const options = requestOptions(started.options);
    if (!conditional) delete options.mediation;
    const credential = await navigator.credentials.get(options);
    if (!credential) return;
    await post("/v1/session/passkey", {
      ceremony_id: started.ceremony_id, credential: credentialJSON(credential), transport: "cookie",
    });
    const next = document.querySelector("input[name=return_to]");
    window.location.assign(next && next.value.startsWith("/") ? next.value : "/account");
    say(status, "");
  }

  const loginButton = document.getElementById("passkey-login");
  if (loginButton) {
    loginButton.hidden = false;
    const status = document.getElementById("passkey-status");
    loginButton.addEventListener("click", () => {
      signIn(false).catch((e) => say(status, e.message || "Signing in with a passkey failed."));
    });
    if (PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then((ok) => {
        if (ok) signIn(true).catch(() => {});
      });
    }
  }

  // /login/mfa: the pending second step with a passkey instead of a code.
  const stepButton = document.getElementById("passkey-second-step");
  if (stepButton) {
    stepButton.hidden = false;
    const status = document.getElementById("passkey-status");
    stepButton.addEventListener("click", async () => {
      try {
        const mfaToken = document.querySelector("input[name=mfa_token]").value;
        const started = await post("/v1/session/mfa/passkey/options", { mfa_token: mfaToken });
        const credential = await navigator.credentials.get(requestOptions(started.options));
        await post("/v1/session/mfa", {
          mfa_token: mfaToken,
          passkey: { ceremony_id: started.ceremony_id, credential: credentialJSON(credential) },
          transport: "cookie",
        });
        const next = document.querySelector("input[name=return_to]");
        window.location.assign(next && next.value.startsWith("/") ? next.value : "/account");
      } catch (e) {
        say(status, e.message || "Verifying with a passkey failed.");
      }
    });
  }

  // /account: "Add a passkey".
  const addButton = document.getElementById("passkey-add");
  if (addButton) {
    addButton.hidden = false;
    const csrf = addButton.dataset.csrf;
    const status = document.getElementById("passkey-status");
    addButton.addEventListener("click", async () => {
      try {
        const started = await post("/v1/passkeys/options", {}, csrf);
        const credential = await navigator.credentials.create(creationOptions(started.options));
        const name = (document.getElementById("passkey-name") || {}).value || "Passkey";
        await post("/v1/passkeys", {
          ceremony_id: started.ceremony_id, name, credential: credentialJSON(credential),
        }, csrf);
        window.location.assign("/account?done=passkey_added");
      } catch (e) {
        say(status, e.message || "Adding a passkey failed.");
      }
    });
  }
})();
