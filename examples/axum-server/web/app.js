// The demo page: sign in, call the API, sign out, and show the token events
// of auth-client.js.
import { AuthClient, SESSION_TAKEN_OVER } from "/auth-client.js";

const auth = new AuthClient();
const $ = (id) => document.getElementById(id);

function log(text) {
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $("log").append(item);
}

function show(signedIn) {
  $("signin").hidden = signedIn;
  $("session").hidden = !signedIn;
  if (!signedIn) {
    $("profile").textContent = "";
    $("token-type").textContent = "";
  }
}

async function loadProfile() {
  const res = await auth.fetch("/profile");
  if (!res.ok) {
    log(`GET /profile: ${res.status}`);
    return;
  }
  const me = await res.json();
  $("profile").textContent = `${me.sub} (${me.roles.join(", ")})`;
  $("token-type").textContent =
    auth.tokenType === "DPoP" ? "DPoP, bound to this browser's key" : "Bearer";
  log(`GET /profile: ${res.status}`);
}

auth.addEventListener("signed-in", () => log(`signed in (${auth.tokenType})`));
auth.addEventListener("refreshed", () => log("refreshed"));
auth.addEventListener("superseded", () => log("refresh superseded, retried"));
auth.addEventListener("shared", () => log("token from another tab"));
auth.addEventListener("signed-out", (e) => {
  log(`signed out (${e.detail.reason})`);
  if (e.detail.reason === SESSION_TAKEN_OVER) {
    // Someone else refreshed this session with a copy of its cookie: the
    // session has been ended for them too.
    $("error").textContent =
      "Your session was used from somewhere else and has been ended. Sign in again.";
  }
  show(false);
});

$("signin").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  $("error").textContent = "";
  try {
    await auth.login(form.username.value, form.password.value);
    form.password.value = "";
    show(true);
    await loadProfile();
  } catch (err) {
    $("error").textContent = err.message;
  }
});

$("call").addEventListener("click", () => loadProfile());
$("logout").addEventListener("click", () => auth.logout());

// A reload keeps the session: one refresh with the cookie.
if (await auth.restore()) {
  show(true);
  await loadProfile();
} else {
  show(false);
}
document.body.dataset.ready = "true";
