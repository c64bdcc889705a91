// Passkeys: the page's form carries the ceremony's options; this asks the
// browser and posts its answer in the form. Without it the page points to
// the other methods.
const form = document.getElementById("passkey-form");
const status = document.getElementById("passkey-status");

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
    status.textContent = create ? "Follow your browser's steps to create the passkey…" : "Follow your browser's steps to use your passkey…";
    try {
      const cred = create ? await navigator.credentials.create(creationOptions(options)) : await navigator.credentials.get(requestOptions(options));
      document.getElementById("credential").value = answer(cred);
      status.textContent = "Checking…";
      form.submit();
    } catch (err) {
      status.textContent = err && err.name === "InvalidStateError" && create
        ? "This passkey or security key is already registered. Use another one, or go back."
        : "The passkey step was cancelled or timed out. Press the button to try again, or choose another method.";
    }
  });
} else if (form) {
  status.textContent = "This browser can't use passkeys. Choose another method below, or try another browser.";
}
