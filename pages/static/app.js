// Enhancements only: every page works the same without this file.
(function () {
  "use strict";

  // The words come from the page (data- attributes, in its language); the
  // English here is only for a page that lacks them.
  var say = function (el, name, english) {
    return (el && el.getAttribute("data-" + name)) || english;
  };
  var lang = document.documentElement.lang || "en";

  // The resend link's wait, counted down from what the server said.
  var wait = document.getElementById("resend-wait");
  if (wait) {
    var left = parseInt(wait.getAttribute("data-seconds"), 10);
    var forms = {};
    try { forms = JSON.parse(wait.getAttribute("data-forms") || "{}"); } catch (e) { forms = {}; }
    var plural = window.Intl && Intl.PluralRules ? new Intl.PluralRules(lang) : null;
    var inWords = function (n) {
      var form = plural ? plural.select(n) : (n === 1 ? "one" : "other");
      var text = forms[form] || forms.other;
      if (!text) {
        return "You can ask for a new code in " + n + (n === 1 ? " second." : " seconds.");
      }
      return text.replace("{n}", String(n));
    };
    var tick = function () {
      left -= 1;
      if (left <= 0) {
        wait.textContent = say(wait, "now", "You can ask for a new code now.");
        return;
      }
      wait.textContent = inWords(left);
      setTimeout(tick, 1000);
    };
    if (left > 0) {
      setTimeout(tick, 1000);
    }
  }

  // A copy button beside the authenticator key.
  var key = document.getElementById("totp-key");
  if (key && navigator.clipboard) {
    var button = document.createElement("button");
    button.type = "button";
    button.id = "copy-key";
    button.className = "link-button";
    button.textContent = say(key, "copy", "Copy key");
    var said = document.createElement("span");
    said.className = "hint";
    said.setAttribute("role", "status");
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(key.textContent.replace(/\s+/g, "")).then(function () {
        said.textContent = say(key, "copied", "Copied.");
      }, function () {
        said.textContent = say(key, "copy-failed", "Couldn't copy: select the key and copy it.");
      });
    });
    key.parentNode.append(" ", button, " ", said);
  }

  // Print and copy beside the recovery codes (Download needs no script).
  var codes = document.getElementById("recovery-codes");
  if (codes) {
    var print = document.getElementById("print-codes");
    print.hidden = false;
    print.addEventListener("click", function () { window.print(); });
    var copy = document.getElementById("copy-codes");
    var copySaid = document.getElementById("copy-said");
    if (navigator.clipboard) {
      copy.hidden = false;
      copy.addEventListener("click", function () {
        var text = Array.prototype.map.call(codes.querySelectorAll("code"), function (c) { return c.textContent; }).join("\n");
        navigator.clipboard.writeText(text).then(function () {
          copySaid.textContent = say(copySaid, "copied", "Copied.");
        }, function () {
          copySaid.textContent = say(copySaid, "copy-failed", "Couldn't copy: select the codes and copy them.");
        });
      });
    }
  }
})();
