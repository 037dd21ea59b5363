// Keeps the header's unread-message badge current without a reload. Progressive enhancement
// only: the server renders the count when it builds the page, and every page works without
// this file. Generic, for the staff and the portal headers alike: every element with
// `data-unread-url` is refreshed from that URL, which answers `{"unread": n}`.
//
// It asks every 5 seconds while the page is visible, and once at once when the page becomes
// visible again (a hidden tab costs the server nothing). A 401 means the session has ended:
// it stops quietly, and the next navigation shows the sign-in page.
(function () {
  "use strict";
  var PERIOD_MS = 5000;
  var badges = Array.prototype.slice.call(document.querySelectorAll("[data-unread-url]"));
  if (badges.length === 0 || !window.fetch) {
    return;
  }
  // One request per distinct URL, however many badges show it.
  var urls = [];
  badges.forEach(function (badge) {
    var url = badge.getAttribute("data-unread-url");
    if (urls.indexOf(url) < 0) {
      urls.push(url);
    }
  });
  var timer = null;
  var stopped = false;
  var inFlight = 0;

  function show(url, n) {
    badges.forEach(function (badge) {
      if (badge.getAttribute("data-unread-url") !== url) {
        return;
      }
      var text = String(n);
      if (badge.textContent !== text) {
        badge.textContent = text;
      }
      badge.hidden = n <= 0;
    });
  }

  function stop() {
    stopped = true;
    if (timer !== null) {
      window.clearInterval(timer);
      timer = null;
    }
  }

  function refresh(url) {
    inFlight += 1;
    window
      .fetch(url, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        cache: "no-store",
      })
      .then(function (res) {
        if (res.status === 401) {
          stop();
          return null;
        }
        return res.ok ? res.json() : null;
      })
      .then(function (body) {
        if (body && typeof body.unread === "number" && body.unread >= 0) {
          show(url, body.unread);
        }
      })
      .catch(function () {
        // Offline for a moment: the next tick tries again.
      })
      .then(function () {
        inFlight -= 1;
      });
  }

  function poll() {
    // A slow answer is not asked for again on top of itself.
    if (stopped || inFlight > 0 || document.visibilityState !== "visible") {
      return;
    }
    urls.forEach(refresh);
  }

  function start() {
    if (!stopped && timer === null) {
      timer = window.setInterval(poll, PERIOD_MS);
    }
  }

  function pause() {
    if (timer !== null) {
      window.clearInterval(timer);
      timer = null;
    }
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      poll();
      start();
    } else {
      pause();
    }
  });
  if (document.visibilityState === "visible") {
    start();
  }
})();
