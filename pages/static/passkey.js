// Passkeys: the page's form carries the ceremony's options; this asks the
// browser and posts its answer in the form. Without it the page points to
// the other methods. What it says comes from the page, in the page's
// language (the status element's data- attributes).
const form = document.getElementById("passkey-form");
const status = document.getElementById("passkey-status");
const say = (what) => { status.textContent = status.dataset[what] || ""; };

const fromB64 = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
const toB64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const ids = (list) => (list || []).map((c) => ({ ...c, id: fromB64(c.id) }));

function creationOptions(o) {
  const pk = o.publicKey;
  return { publicKey: { ...pk, challenge: fromB64(pk.challenge), user: { ...pk.user, id: fromB64(pk.user.id) }, excludeCredentials: ids(pk.excludeCredentials) } };
}

function requestOptions(o) {
  const pk = o.publicKey;
  return { publicKey: { ...pk, challenge: fromB64(pk.challenge), allowCredentials: ids(pk.allowCredentials) } };
}

function answer(cred) {
  const r = cred.response;
  const out = { id: cred.id, rawId: toB64(cred.rawId), type: cred.type, clientExtensionResults: cred.getClientExtensionResults(), authenticatorAttachment: cred.authenticatorAttachment || undefined };
  if (r.attestationObject) {
    out.response = { clientDataJSON: toB64(r.clientDataJSON), attestationObject: toB64(r.attestationObject), transports: r.getTransports ? r.getTransports() : [] };
  } else {
    out.response = { clientDataJSON: toB64(r.clientDataJSON), authenticatorData: toB64(r.authenticatorData), signature: toB64(r.signature), userHandle: r.userHandle ? toB64(r.userHandle) : undefined };
  }
  return JSON.stringify(out);
}

if (form && window.PublicKeyCredential && navigator.credentials) {
  const create = form.dataset.passkey === "create";
  const options = JSON.parse(form.dataset.options);
  form.addEventListener("submit", async (event) => {
    if (document.getElementById("credential").value) {
      return;
    }
    event.preventDefault();
    say(create ? "creating" : "using");
    try {
      const cred = create ? await navigator.credentials.create(creationOptions(options)) : await navigator.credentials.get(requestOptions(options));
      document.getElementById("credential").value = answer(cred);
      say("checking");
      form.submit();
    } catch (err) {
      say(err && err.name === "InvalidStateError" && create ? "registered" : "cancelled");
    }
  });
} else if (form) {
  say("unsupported");
}
