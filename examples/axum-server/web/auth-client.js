// auth-client.js: the browser half of the access/refresh token flow.
//
// Copy this file as it is; it has no dependencies and needs no build step.
//
// - The access token lives only in this module's memory: never in
//   localStorage, sessionStorage or a readable cookie, where any script
//   injected into the page (XSS) could take it.
// - The refresh token lives only in the server's HttpOnly cookie: the login
//   asks for cookie-only delivery ("cookieOnly": true), so no response body
//   this page receives carries it, and no script can read it.
// - An API call answered 401 triggers one refresh, shared by every call in
//   flight (no stampede), then one retry. Refreshes are serialized across the
//   tabs of this origin with the Web Locks API, and a tab that refreshed hands
//   the new access token to the others (BroadcastChannel, memory to memory),
//   so two tabs never rotate the same refresh token.
// - A `refresh_superseded` answer (another refresh won the race) is retried
//   once; any other failed refresh clears the session and emits "signed-out".
//
// Events (an EventTarget): "signed-in", "refreshed", "superseded" (a
// refresh lost a race and was retried), "shared" (a token came from another
// tab), "signed-out" (detail: { reason }).
//
//   import { AuthClient } from "./auth-client.js";
//   const auth = new AuthClient();            // routes under /auth
//   auth.addEventListener("signed-out", showSignIn);
//   if (!(await auth.restore())) showSignIn(); // one cookie refresh on load
//   const res = await auth.fetch("/profile");  // bearer added, 401 handled

const LOCK = "auth-client-refresh";

export class AuthClient extends EventTarget {
  #prefix;
  #access = null;
  #refreshing = null;
  #channel = null;
  #shared = null; // resolves when another tab hands over a token

  /** @param {{prefix?: string}} options the auth routes' prefix (default "/auth") */
  constructor({ prefix = "/auth" } = {}) {
    super();
    this.#prefix = prefix;
    if ("BroadcastChannel" in globalThis) {
      this.#channel = new BroadcastChannel(LOCK);
      this.#channel.onmessage = (e) => this.#received(e.data);
    }
  }

  /** Whether an access token is held (in memory). */
  get signedIn() {
    return this.#access !== null;
  }

  /**
   * Signs in; the refresh token goes only into the HttpOnly cookie.
   * Throws an Error whose message is the server's error_description.
   */
  async login(username, password) {
    const res = await fetch(`${this.#prefix}/login`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username, password, cookieOnly: true }),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      throw new Error(body.error_description || `sign-in failed (${res.status})`);
    }
    this.#access = body.accessToken;
    this.#emit("signed-in");
  }

  /** On page load: one refresh with the cookie. True when signed in again. */
  async restore() {
    return this.refresh();
  }

  /**
   * fetch() with the access token; a 401 is answered by one shared refresh
   * and one retry. Without a session it returns the 401 as it is.
   */
  async fetch(input, init = {}) {
    const used = this.#access;
    const res = await fetch(input, this.#withBearer(init, used));
    if (res.status !== 401 || used === null) {
      return res;
    }
    if (!(await this.refresh(used))) {
      return res;
    }
    return fetch(input, this.#withBearer(init, this.#access));
  }

  /**
   * Refreshes the access token once for every caller in flight. `stale` is
   * the token that was refused: when another tab already replaced it, that
   * token is used and nothing is rotated. Resolves to whether a token is held.
   */
  refresh(stale = null) {
    if (!this.#refreshing) {
      this.#refreshing = this.#refreshAcrossTabs(stale).finally(() => {
        this.#refreshing = null;
      });
    }
    return this.#refreshing;
  }

  /** Signs out: revokes the session server-side and clears the cookie and memory. */
  async logout() {
    const token = this.#access;
    this.#access = null;
    try {
      await fetch(`${this.#prefix}/logout`, {
        method: "POST",
        credentials: "same-origin",
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
    } finally {
      this.#channel?.postMessage({ type: "signed-out" });
      this.#emit("signed-out", { reason: "logout" });
    }
  }

  async #refreshAcrossTabs(stale) {
    // Another tab already replaced the refused token: use its token.
    if (stale !== null && this.#access !== null && this.#access !== stale) {
      return true;
    }
    if (!navigator.locks) {
      return this.#rotate();
    }
    // Free lock: nobody else is refreshing. Held: wait for it, then take the
    // token the other tab hands over instead of rotating again.
    const immediate = await navigator.locks.request(LOCK, { ifAvailable: true }, async (lock) =>
      lock ? { done: await this.#rotate() } : null,
    );
    if (immediate) {
      return immediate.done;
    }
    this.#shared = deferred();
    return navigator.locks.request(LOCK, async () => {
      if (this.#access !== null && this.#access !== stale) {
        return true;
      }
      // The other tab's message may still be on its way.
      const handed = await Promise.race([this.#shared.promise, sleep(250)]);
      if (handed && this.#access !== stale) {
        return true;
      }
      return this.#rotate();
    });
  }

  /** One POST /refresh with the cookie; a superseded answer is retried once. */
  async #rotate(retried = false) {
    const res = await fetch(`${this.#prefix}/refresh`, {
      method: "POST",
      credentials: "same-origin",
    });
    const body = await res.json().catch(() => ({}));
    if (res.ok) {
      this.#access = body.accessToken;
      this.#channel?.postMessage({ type: "token", token: body.accessToken });
      this.#emit("refreshed");
      return true;
    }
    if (res.status === 401 && body.error === "refresh_superseded" && !retried) {
      this.#emit("superseded");
      return this.#rotate(true);
    }
    const hadSession = this.#access !== null;
    this.#access = null;
    if (hadSession) {
      this.#emit("signed-out", { reason: body.error || `status ${res.status}` });
    }
    return false;
  }

  #received(message) {
    if (message?.type === "token" && typeof message.token === "string") {
      this.#access = message.token;
      this.#shared?.resolve(true);
      this.#emit("shared");
    } else if (message?.type === "signed-out" && this.#access !== null) {
      this.#access = null;
      this.#emit("signed-out", { reason: "signed out in another tab" });
    }
  }

  #withBearer(init, token) {
    const headers = new Headers(init.headers || {});
    if (token) {
      headers.set("authorization", `Bearer ${token}`);
    }
    return { ...init, headers, credentials: "same-origin" };
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

function deferred() {
  let resolve;
  const promise = new Promise((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function sleep(ms) {
  return new Promise((r) => setTimeout(() => r(false), ms));
}
