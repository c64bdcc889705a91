// Enhancements only: every page works the same without this file.
(function () {
  "use strict";

  // The resend link's wait, counted down from what the server said.
  var wait = document.getElementById("resend-wait");
  if (wait) {
    var left = parseInt(wait.getAttribute("data-seconds"), 10);
    var tick = function () {
      left -= 1;
      if (left <= 0) {
        wait.textContent = "You can ask for a new code now.";
        return;
      }
      wait.textContent = "You can ask for a new code in " + left + (left === 1 ? " second." : " seconds.");
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
    button.textContent = "Copy key";
    var said = document.createElement("span");
    said.className = "hint";
    said.setAttribute("role", "status");
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(key.textContent.replace(/\s+/g, "")).then(function () {
        said.textContent = "Copied.";
      }, function () {
        said.textContent = "Couldn't copy: select the key and copy it.";
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
          copySaid.textContent = "Copied.";
        }, function () {
          copySaid.textContent = "Couldn't copy: select the codes and copy them.";
        });
      });
    }
  }
})();
