// Shows the staff member's notifications as toasts while a page is open. Progressive
// enhancement only: every notification is also on the Notifications page.
//
// One EventSource on the server's stream (`data-stream-url` of `#toasts`); each `toast` event
// is `{id, title, body, severity, colour, link}`. A toast is a `div.toast.toast-{colour}` (red,
// yellow or blue, always with the severity's word) inside the `role="status"` region, so that a
// screen reader announces it; clicking it opens its link, its button dismisses it, and it hides
// by itself after 15 seconds. The server sends each toast to one tab only.
// The header's notification badge is refreshed at once when a toast arrives.
(function () {
  "use strict";
  var HIDE_MS = 15000;
  var region = document.getElementById("toasts");
  if (!region || !window.EventSource) {
    return;
  }
  var url = region.getAttribute("data-stream-url");
  var WORDS = { red: "Critical", yellow: "Warning", blue: "Information" };

  function refreshBadge() {
    var badge = document.querySelector("#header-notifications .unread-badge");
    if (!badge || !window.fetch) {
      return;
    }
    window
      .fetch(badge.getAttribute("data-unread-url"), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        cache: "no-store",
      })
      .then(function (res) {
        return res.ok ? res.json() : null;
      })
      .then(function (body) {
        if (body && typeof body.unread === "number") {
          badge.textContent = String(body.unread);
          badge.hidden = body.unread <= 0;
        }
      })
      .catch(function () {});
  }

  function safeLink(link) {
    return typeof link === "string" && link.charAt(0) === "/" && link.charAt(1) !== "/" ? link : null;
  }

  function show(t) {
    var colour = WORDS.hasOwnProperty(t.colour) ? t.colour : "blue";
    var toast = document.createElement("div");
    toast.className = "toast toast-" + colour;
    toast.setAttribute("role", "status");
    toast.setAttribute("aria-live", "polite");
    toast.setAttribute("data-notification-id", String(t.id || ""));
    var sev = document.createElement("span");
    sev.className = "toast-severity";
    sev.textContent = WORDS[colour];
    var title = document.createElement("span");
    title.className = "toast-title";
    title.textContent = String(t.title || "");
    var body = document.createElement("span");
    body.className = "toast-body";
    body.textContent = String(t.body || "");
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Dismiss notification");
    close.textContent = "\u00d7";
    toast.appendChild(sev);
    toast.appendChild(title);
    toast.appendChild(body);
    toast.appendChild(close);
    var link = safeLink(t.link);
    var timer = window.setTimeout(remove, HIDE_MS);
    function remove() {
      window.clearTimeout(timer);
      if (toast.parentNode) {
        toast.parentNode.removeChild(toast);
      }
    }
    close.addEventListener("click", function (e) {
      e.stopPropagation();
      remove();
    });
    toast.addEventListener("click", function () {
      remove();
      if (link) {
        window.location.assign(link);
      }
    });
    region.appendChild(toast);
    refreshBadge();
  }

  var source = new EventSource(url, { withCredentials: true });
  source.addEventListener("toast", function (e) {
    try {
      show(JSON.parse(e.data));
    } catch (err) {
      // A malformed event is skipped.
    }
  });
  // The browser reconnects by itself after a dropped connection (a restart, a new replica).
  window.addEventListener("pagehide", function () {
    source.close();
  });
})();
