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
// - The access token goes only to this page's own origin, and to the origins
//   listed in `allowedOrigins`: a call to any other origin is sent without it,
//   and its 401 is passed on as it is (no refresh).
// - An API call answered 401 triggers one refresh, shared by every call in
//   flight (no stampede), then one retry. When another tab handed over a
//   new token while the call was on its way, that token is tried first, and
//   refreshed like any other if it is refused too. Refreshes are serialized across the
//   tabs of this origin with the Web Locks API, and a tab that refreshed hands
//   the new access token to the others (BroadcastChannel, memory to memory),
//   so two tabs never rotate the same refresh token.
// - A `refresh_superseded` answer (another refresh won the race) is retried
//   once. Superseded again means someone else holds the newest refresh token
//   (a stolen cookie refreshed first): the client logs out with the token it
//   holds, which ends the session for the other holder too, and emits
//   "signed-out" with the reason "session_taken_over". Any other failed
//   refresh clears the session and emits "signed-out".
//
// Events (an EventTarget): "signed-in", "refreshed", "superseded" (a
// refresh lost a race and was retried), "shared" (a token came from another
// tab), "signed-out" (detail: { reason }).
//
//   import { AuthClient } from "./auth-client.js";
//   const auth = new AuthClient();            // routes under /auth
//   // or: new AuthClient({ allowedOrigins: ["https://api.example.com"] })
//   auth.addEventListener("signed-out", showSignIn);
//   if (!(await auth.restore())) showSignIn(); // one cookie refresh on load
//   const res = await auth.fetch("/profile");  // bearer added, 401 handled

const LOCK = "auth-client-refresh";
// How long a tab that waited for another tab's refresh waits for its
// message (the new token, or its failure) before refreshing itself.
const HANDOVER_WAIT_MS = 3000;
// How long a tab keeps the lock after its refresh, for the token it
// broadcast to reach the other tabs before any of them may refresh.
const HANDOVER_HOLD_MS = 1000;

/**
 * The "signed-out" reason when a refresh was superseded twice: another
 * client refreshed this session first, and the session was ended.
 */
export const SESSION_TAKEN_OVER = "session_taken_over";

export class AuthClient extends EventTarget {
  #prefix;
  #origins;
  #access = null;
  #refreshing = null;
  #channel = null;
  #shared = null; // resolves when another tab hands over a token

  /**
   * @param {{prefix?: string, allowedOrigins?: string[]}} options
   *   `prefix`: the auth routes' prefix (default "/auth");
   *   `allowedOrigins`: origins besides the page's own that `fetch` sends
   *   the access token to, each a bare origin ("https://api.example.com");
   *   none by default. Throws a TypeError for anything else.
   */
  constructor({ prefix = "/auth", allowedOrigins = [] } = {}) {
    super();
    this.#prefix = prefix;
    this.#origins = new Set([globalThis.location.origin, ...allowedOrigins.map(bareOrigin)]);
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
   * and one retry (a token another tab handed over meanwhile is tried
   * before refreshing). Without a session it returns the 401 as it is. A URL of
   * another origin (not the page's, not in `allowedOrigins`) is fetched as
   * it is: no token, and its 401 is returned without a refresh.
   */
  async fetch(input, init = {}) {
    // One Request, made as fetch would make it (a relative URL resolved
    // against the document's base URL, a Request of any frame copied with
    // its method, headers and body, `init` applied): its URL is the one
    // judged, and it is the one sent.
    let request;
    try {
      request = new Request(input, init);
    } catch {
      return fetch(input, init); // fails as fetch fails
    }
    if (!this.#sendsTokenTo(new URL(request.url).origin)) {
      return fetch(request);
    }
    // A body is read once: each retry sends a copy.
    const retry = request.clone();
    let used = this.#access;
    let res = await fetch(withBearer(request, used));
    if (res.status !== 401 || used === null) {
      return res;
    }
    // Another tab (or call) replaced the refused token while this call was
    // on its way: try that token first. Refused too (it expired on its way,
    // or was revoked), it is refreshed like any other: a token handed over
    // is never the last word on a 401.
    if (this.#access !== null && this.#access !== used) {
      used = this.#access;
      res = await fetch(withBearer(retry.clone(), used));
      if (res.status !== 401) {
        return res;
      }
    }
    if (!(await this.refresh(used))) {
      return res;
    }
    return fetch(withBearer(retry, this.#access));
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
    return this.#endSession("logout");
  }

  /**
   * POST /logout with the cookie and the access token held, then clears
   * memory, tells the other tabs and emits "signed-out" with `reason`.
   */
  async #endSession(reason) {
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
      this.#emit("signed-out", { reason });
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
    const immediate = deferred();
    navigator.locks.request(LOCK, { ifAvailable: true }, async (lock) => {
      if (!lock) {
        immediate.resolve(null);
        return;
      }
      await this.#rotateHolding(immediate);
    });
    const done = await immediate.promise;
    if (done !== null) {
      return done;
    }
    this.#shared = deferred();
    const waited = deferred();
    navigator.locks.request(LOCK, async () => {
      if (this.#access !== null && this.#access !== stale) {
        waited.resolve(true);
        return;
      }
      // The other tab's message (its token, or its failure) may still be on
      // its way: wait for it, however busy the machine. Only a tab closed
      // in the middle of its refresh sends none.
      const handed = await Promise.race([this.#shared.promise, sleep(HANDOVER_WAIT_MS)]);
      if (handed && this.#access !== stale) {
        waited.resolve(true);
        return;
      }
      await this.#rotateHolding(waited);
    });
    return waited.promise;
  }

  /**
   * Under the lock: rotates, tells the other tabs, settles `outcome`, then
   * keeps the lock a moment. A tab whose call failed with the old token
   * meanwhile then waits for the message on its way, instead of finding the
   * lock free and rotating once more.
   */
  async #rotateHolding(outcome) {
    try {
      outcome.resolve(await this.#rotateAndTell());
    } catch (e) {
      outcome.reject(e);
      return;
    }
    await sleep(HANDOVER_HOLD_MS);
  }

  /** #rotate under the lock, telling the waiting tabs when it failed. */
  async #rotateAndTell() {
    let done = false;
    try {
      done = await this.#rotate();
    } finally {
      if (!done) {
        this.#channel?.postMessage({ type: "refresh-failed" });
      }
    }
    return done;
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
    if (res.status === 401 && body.error === "refresh_superseded") {
      if (!retried) {
        this.#emit("superseded");
        return this.#rotate(true);
      }
      // Superseded again with the cookie this browser holds: another client
      // holds the newest refresh token of this session (a stolen cookie that
      // was refreshed first). Logging out with the token held ends the
      // session, the other client's tokens with it; dropping it quietly
      // would leave the session to them.
      await this.#endSession(SESSION_TAKEN_OVER).catch(() => {});
      return false;
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
    } else if (message?.type === "refresh-failed") {
      this.#shared?.resolve(false);
    } else if (message?.type === "signed-out" && this.#access !== null) {
      this.#access = null;
      this.#emit("signed-out", { reason: "signed out in another tab" });
    }
  }

  /** Whether `origin` gets the token. */
  #sendsTokenTo(origin) {
    // "null": an opaque origin (data:, file: URLs), never a token holder.
    return origin !== "null" && this.#origins.has(origin);
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

/** `request` with the bearer `token` (if any), its own headers kept. */
function withBearer(request, token) {
  const headers = new Headers(request.headers);
  if (token) {
    headers.set("authorization", `Bearer ${token}`);
  }
  return new Request(request, { headers });
}

/** `origin` as URL.origin spells it; a TypeError unless it is a bare origin. */
function bareOrigin(origin) {
  const url = new URL(origin);
  if (url.origin === "null" || url.pathname !== "/" || url.search || url.hash || url.username) {
    throw new TypeError(`allowedOrigins: ${origin} is not an origin (scheme://host[:port])`);
  }
  return url.origin;
}

function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function sleep(ms) {
  return new Promise((r) => setTimeout(() => r(false), ms));
}
