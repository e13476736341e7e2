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
// - DPoP (RFC 9449): the client keeps a key pair of its own, ECDSA P-256
//   made by WebCrypto with a private half that cannot be exported (no
//   script, this one included, can read it; it can only sign). It lives in
//   IndexedDB: one key per origin, made once, shared by the tabs, kept
//   across reloads. The login, each refresh and each call with the access
//   token carry a fresh proof signed with it (the `DPoP` header: ES256, a
//   new `jti`, the method, the URL without query or fragment, the time,
//   and with an access token its hash `ath`). A server that takes DPoP
//   binds the session to the key (`tokenType: "DPoP"`): the refresh cookie
//   and the access token are then useless to whoever copies them without
//   the key, and calls send `Authorization: DPoP`. A script injected into
//   the page can still sign while the page is open, but cannot take the
//   key away. An API in `allowedOrigins` must allow the `DPoP` request
//   header in its CORS answers. A proof refused while the server's `Date`
//   is far from this machine's clock is signed again once with the
//   server's time. A server that requires nonces (RFC 9449 §8) hands one
//   out in a `DPoP-Nonce` header; the client keeps the newest of each
//   origin, puts it in its proofs, and signs again once when asked for a
//   new one (`use_dpop_nonce`). An API of another origin must list
//   `DPoP-Nonce` and `WWW-Authenticate` in `Access-Control-Expose-Headers`.
//   Without WebCrypto (a page not served over HTTPS nor from localhost) or
//   IndexedDB (some private browsing modes) no proof is sent: the session
//   is Bearer, as with a server that does not take DPoP.
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
//   const res = await auth.fetch("/profile");  // token (and proof) added, 401 handled

const LOCK = "auth-client-refresh";
// How long a tab that waited for another tab's refresh waits for its
// message (the new token, or its failure) before refreshing itself.
const HANDOVER_WAIT_MS = 3000;
// How long a tab keeps the lock after its refresh, for the token it
// broadcast to reach the other tabs before any of them may refresh.
const HANDOVER_HOLD_MS = 1000;
// Where the DPoP key is kept: this IndexedDB database, object store and
// record (one per origin).
const KEY_DB = "auth-client-dpop";
const KEY_STORE = "keys";
const KEY_ID = "ES256";
// How far the server's clock (its `Date` header) may lie from this one
// before a refused proof is signed again with the server's time.
const CLOCK_TOLERANCE_S = 5;
// How long the key may take to come out of IndexedDB (or be made) before
// the page goes on without it (Bearer): an IndexedDB that never answers
// must not hang the sign-in.
const KEY_WAIT_MS = 10000;

/**
 * The "signed-out" reason when a refresh was superseded twice: another
 * client refreshed this session first, and the session was ended.
 */
export const SESSION_TAKEN_OVER = "session_taken_over";

export class AuthClient extends EventTarget {
  #prefix;
  #origins;
  #access = null;
  // How #access is presented: "DPoP" (bound to the key) or "Bearer".
  #tokenType = "Bearer";
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
   * How the session's tokens are presented: "DPoP" when the server bound
   * them to this browser's key, "Bearer" otherwise; null when signed out.
   */
  get tokenType() {
    return this.#access === null ? null : this.#tokenType;
  }

  /**
   * Signs in; the refresh token goes only into the HttpOnly cookie. With a
   * DPoP key, the login carries a proof, and a server that takes DPoP binds
   * the session to the key. Throws an Error whose message is the server's
   * error_description.
   */
  async login(username, password) {
    const res = await this.#post(
      "login",
      { "content-type": "application/json" },
      JSON.stringify({ username, password, cookieOnly: true }),
    );
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      throw new Error(body.error_description || `sign-in failed (${res.status})`);
    }
    this.#hold(body.accessToken, body.tokenType);
    this.#emit("signed-in");
  }

  /** On page load: one refresh with the cookie. True when signed in again. */
  async restore() {
    return this.refresh();
  }

  /**
   * fetch() with the access token (`Authorization: DPoP` and a fresh proof
   * for this request when the session is bound, else `Bearer`); a 401 is
   * answered by one shared refresh and one retry (a token another tab
   * handed over meanwhile is tried before refreshing). Without a session it
   * returns the 401 as it is. A URL of another origin (not the page's, not
   * in `allowedOrigins`) is fetched as it is: no token, no proof, and its
   * 401 is returned without a refresh.
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
    let res = await send(await withToken(request, used, this.#tokenType));
    if (nonceAsked(res)) {
      // The server wants its newest nonce in the proof: signed again once.
      res = await send(await withToken(retry.clone(), used, this.#tokenType));
    }
    if (res.status !== 401 || used === null) {
      return res;
    }
    // Another tab (or call) replaced the refused token while this call was
    // on its way: try that token first. Refused too (it expired on its way,
    // or was revoked), it is refreshed like any other: a token handed over
    // is never the last word on a 401.
    if (this.#access !== null && this.#access !== used) {
      used = this.#access;
      res = await send(await withToken(retry.clone(), used, this.#tokenType));
      if (res.status !== 401) {
        return res;
      }
    }
    if (!(await this.refresh(used))) {
      return res;
    }
    return send(await withToken(retry, this.#access, this.#tokenType));
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
    const tokenType = this.#tokenType;
    this.#access = null;
    try {
      // A bound session is revoked only with a proof of its key (whoever
      // glimpses a bound token cannot log its owner out): the access token
      // goes as DPoP with a proof carrying its `ath`, or, without one, the
      // cookie goes with a plain proof.
      const key = await dpopKey();
      const request = new Request(`${this.#prefix}/logout`, {
        method: "POST",
        credentials: "same-origin",
      });
      // Signed again (twice at most) when the server asks for its newest
      // nonce, or refuses the proof while its clock is far from this one:
      // a refused logout has ended nothing.
      const bound = token && tokenType === "DPoP" ? token : null;
      const headers = new Headers();
      if (token) {
        headers.set("authorization", `${bound ? "DPoP" : "Bearer"} ${token}`);
      }
      for (let attempt = 0; attempt < 3; attempt += 1) {
        if (key) {
          headers.set("dpop", await dpopProof(key, request, bound));
        }
        const res = await send(new Request(request, { headers }));
        if (!key || !signAgain(res)) {
          break;
        }
      }
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

  /**
   * One POST /refresh with the cookie (and a proof of the key: a bound
   * session refreshes only with one); a superseded answer is retried once.
   */
  async #rotate(retried = false) {
    const res = await this.#post("refresh");
    const body = await res.json().catch(() => ({}));
    if (res.ok) {
      this.#hold(body.accessToken, body.tokenType);
      this.#channel?.postMessage({
        type: "token",
        token: this.#access,
        tokenType: this.#tokenType,
      });
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

  /**
   * POST {prefix}/{route} with the cookie and, when this browser has a DPoP
   * key, a proof. A proof refused while the server's clock is far from
   * this one is signed again once, with the server's time; one asked for
   * the server's newest nonce, once with it.
   */
  async #post(route, headers = {}, body = undefined) {
    const key = await dpopKey();
    for (let attempt = 0; ; attempt += 1) {
      const request = new Request(`${this.#prefix}/${route}`, {
        method: "POST",
        credentials: "same-origin",
        headers,
        body,
      });
      if (key) {
        request.headers.set("dpop", await dpopProof(key, request, null));
      }
      const res = await send(request);
      if (key && attempt < 2 && signAgain(res)) {
        continue;
      }
      return res;
    }
  }

  /** Holds a token the server issued, as `tokenType` says to present it. */
  #hold(token, tokenType) {
    this.#access = token;
    this.#tokenType = /^dpop$/i.test(tokenType ?? "") ? "DPoP" : "Bearer";
  }

  #received(message) {
    if (message?.type === "token" && typeof message.token === "string") {
      this.#hold(message.token, message.tokenType);
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

/**
 * `request` with `token` (if any), its own headers kept: as `DPoP` with a
 * fresh proof for this request when `tokenType` is "DPoP", else as `Bearer`.
 */
async function withToken(request, token, tokenType) {
  const headers = new Headers(request.headers);
  if (token && tokenType === "DPoP") {
    headers.set("authorization", `DPoP ${token}`);
    // Without its key (lost since the login) the call goes without a proof
    // and is refused, like any call with a dead token.
    const key = await dpopKey();
    if (key) {
      headers.set("dpop", await dpopProof(key, request, token));
    }
  } else if (token) {
    headers.set("authorization", `Bearer ${token}`);
  }
  return new Request(request, { headers });
}

// The seconds to add to this machine's clock to read the server's, learned
// from the `Date` of an answer that refused a proof.
let clockOffset = 0;
// The newest server nonce (`DPoP-Nonce`) of each origin, for the proofs.
const dpopNonces = new Map();
// This origin's DPoP key, once asked for (a promise; null inside when there
// is none).
let keyPromise = null;

/**
 * This origin's DPoP key: `{ privateKey, jwk }`, read from IndexedDB, or
 * made and stored there the first time; null without WebCrypto or
 * IndexedDB, or when IndexedDB fails or takes longer than KEY_WAIT_MS (the
 * session is then Bearer).
 */
function dpopKey() {
  if (keyPromise === null) {
    const usable =
      globalThis.isSecureContext &&
      globalThis.crypto?.subtle &&
      typeof globalThis.crypto.randomUUID === "function" &&
      globalThis.indexedDB;
    if (usable) {
      const late = sleep(KEY_WAIT_MS).then(() => null);
      keyPromise = Promise.race([storedKey(), late]).catch(() => null);
    } else {
      keyPromise = Promise.resolve(null);
    }
  }
  return keyPromise;
}

async function storedKey() {
  const db = await new Promise((resolve, reject) => {
    const open = indexedDB.open(KEY_DB, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(KEY_STORE);
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  try {
    const found = await keyRecord(db, "readonly", null);
    if (found) {
      return found;
    }
    // Non-extractable: the private key can sign, and nothing can read it.
    const pair = await crypto.subtle.generateKey(
      { name: "ECDSA", namedCurve: "P-256" },
      false,
      ["sign"],
    );
    const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
    // Another tab may have made its own key meanwhile: the first one
    // stored wins, and the others take it in the same transaction, so
    // every tab signs with one key.
    return await keyRecord(db, "readwrite", {
      privateKey: pair.privateKey,
      jwk: { kty, crv, x, y },
    });
  } finally {
    db.close();
  }
}

/**
 * In one transaction: the stored key when there is a usable one, else
 * `record` stored (when given) and returned; resolves once committed.
 */
function keyRecord(db, mode, record) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(KEY_STORE, mode);
    const store = tx.objectStore(KEY_STORE);
    let result = null;
    const get = store.get(KEY_ID);
    get.onsuccess = () => {
      const found = get.result;
      const usable =
        found?.privateKey instanceof CryptoKey &&
        found.privateKey.type === "private" &&
        found.jwk?.kty === "EC";
      if (usable) {
        result = found;
      } else if (record !== null) {
        store.put(record, KEY_ID);
        result = record;
      }
    };
    tx.oncomplete = () => resolve(result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error("the key transaction was aborted"));
  });
}

/**
 * A DPoP proof (RFC 9449 §4.2) for `request`, signed with `key` (ES256):
 * a fresh `jti`, the method, the URL without query or fragment, the time,
 * and `ath` when it goes with `accessToken`.
 */
async function dpopProof(key, request, accessToken) {
  const htu = new URL(request.url);
  htu.search = "";
  htu.hash = "";
  const claims = {
    jti: crypto.randomUUID(),
    htm: request.method,
    htu: htu.href,
    iat: Math.floor(Date.now() / 1000) + clockOffset,
  };
  const nonce = dpopNonces.get(htu.origin);
  if (nonce !== undefined) {
    claims.nonce = nonce;
  }
  if (accessToken !== null) {
    const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(accessToken));
    claims.ath = base64url(hash);
  }
  const header = { typ: "dpop+jwt", alg: "ES256", jwk: key.jwk };
  const input = [header, claims].map((part) => base64url(utf8(JSON.stringify(part)))).join(".");
  // WebCrypto's ECDSA signature is r||s, the form JWS uses.
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    key.privateKey,
    utf8(input),
  );
  return `${input}.${base64url(signature)}`;
}

/** fetch(), keeping the server nonce the answer carries. */
async function send(request) {
  const res = await fetch(request);
  const nonce = res.headers.get("dpop-nonce");
  if (nonce && res.url) {
    dpopNonces.set(new URL(res.url).origin, nonce);
  }
  return res;
}

/** Whether `res` asks for a proof with the server's newest nonce. */
function nonceAsked(res) {
  return (
    (res.status === 400 || res.status === 401) &&
    res.headers.has("dpop-nonce") &&
    /error="use_dpop_nonce"/.test(res.headers.get("www-authenticate") ?? "")
  );
}

/**
 * Whether the proof of the request `res` answers is worth signing again:
 * the server asks for its newest nonce, or refused the proof while its
 * clock is far from this one (then learnt).
 */
function signAgain(res) {
  return nonceAsked(res) || (proofRefused(res) && learnClock(res));
}

/** Whether `res` refuses the request's DPoP proof. */
function proofRefused(res) {
  return (
    res.status === 401 &&
    /error="invalid_dpop_proof"/.test(res.headers.get("www-authenticate") ?? "")
  );
}

/**
 * Takes the server's clock from the `Date` of `res` when it lies more than
 * CLOCK_TOLERANCE_S from the one proofs use; whether it changed.
 */
function learnClock(res) {
  const server = Date.parse(res.headers.get("date") ?? "");
  if (Number.isNaN(server)) {
    return false;
  }
  const offset = Math.round((server - Date.now()) / 1000);
  if (Math.abs(offset - clockOffset) <= CLOCK_TOLERANCE_S) {
    return false;
  }
  clockOffset = offset;
  return true;
}

function utf8(text) {
  return new TextEncoder().encode(text);
}

/** base64url without padding, of an ArrayBuffer or a Uint8Array. */
function base64url(bytes) {
  let binary = "";
  for (const b of new Uint8Array(bytes)) {
    binary += String.fromCharCode(b);
  }
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
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
