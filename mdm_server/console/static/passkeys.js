// Tabard console: passkeys (WebAuthn). Loaded only by the pages that offer them, as a file
// (the CSP allows no inline script). Each form marked data-passkey="register", "sign-in" or
// "step-up" asks the server for a challenge (data-options), hands it to the browser's
// navigator.credentials, and sends the answer to the form's action; the server answers
// {"redirect": URL} or {"error", "detail"}. Options and answers travel in WebAuthn's own JSON
// forms (PublicKeyCredential.parse...FromJSON and toJSON).
"use strict";

const supported =
  typeof window.PublicKeyCredential === "function" &&
  typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function" &&
  typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function";

function say(form, words) {
  const message = form.querySelector("[data-passkey-message]");
  message.textContent = words;
  message.hidden = false;
}

async function post(url, csrf, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body),
  });
  let answer = {};
  try {
    answer = await response.json();
  } catch (notJson) {
    answer = {};
  }
  if (!response.ok) {
    const detail = answer.detail || "The server refused. Reload the page and try again.";
    const sentence = detail.charAt(0).toUpperCase() + detail.slice(1);
    throw new Error(/[.!?]$/.test(sentence) ? sentence : sentence + ".");
  }
  return answer;
}

// The browser's refusals in words (W3C WebAuthn §5.1.3, §5.1.4: the DOMException names).
function inWords(error) {
  switch (error.name) {
    case "NotAllowedError":
      return "The passkey was not used: it was cancelled or took too long. Try again.";
    case "InvalidStateError":
      return "That passkey is on this account already.";
    case "SecurityError":
      return "This browser will not use passkeys at this address.";
    default:
      return error.message || "Something went wrong. Reload the page and try again.";
  }
}

async function register(form, csrf) {
  const name = form.elements.name.value.trim();
  if (!name) {
    say(form, "Give the passkey a name you will know it by.");
    return null;
  }
  const options = await post(form.dataset.options, csrf, {});
  const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options.public_key);
  const credential = await navigator.credentials.create({ publicKey });
  return post(form.action, csrf, {
    ceremony_id: options.ceremony_id,
    name,
    credential: credential.toJSON(),
  });
}

async function assert(form, csrf, fields) {
  const options = await post(form.dataset.options, csrf, fields);
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options.public_key);
  const credential = await navigator.credentials.get({ publicKey });
  return post(form.action, csrf, {
    ...fields,
    ceremony_id: options.ceremony_id,
    credential: credential.toJSON(),
  });
}

async function run(form) {
  const csrf = form.elements.csrf_token.value;
  if (form.dataset.passkey === "register") {
    return register(form, csrf);
  }
  const fields = {};
  for (const field of ["challenge_token", "next"]) {
    if (form.elements[field]) {
      fields[field] = form.elements[field].value;
    }
  }
  return assert(form, csrf, fields);
}

document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-passkey]");
  if (!form) {
    return;
  }
  event.preventDefault();
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  form.dataset.state = "working";
  run(form)
    .then((done) => {
      if (done && done.redirect) {
        form.dataset.state = "done";
        window.location.assign(done.redirect);
      } else {
        form.dataset.state = "ready";
      }
    })
    .catch((error) => {
      form.dataset.state = "refused";
      say(form, inWords(error));
    })
    .finally(() => {
      button.disabled = false;
    });
});

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-passkey]")) {
    form.hidden = !supported;
    form.dataset.state = "ready";
  }
  for (const note of document.querySelectorAll("[data-passkey-unsupported]")) {
    note.hidden = supported;
  }
});
