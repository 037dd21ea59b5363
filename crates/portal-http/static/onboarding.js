// The Onboarding Tool's progressive enhancement; every page works without this file.
(function () {
  "use strict";
  // "Select every patient on this page": shown only when this script runs.
  var all = document.getElementById("select-all-rows");
  if (all) {
    all.hidden = false;
    var boxes = document.querySelectorAll("input.row-select");
    all.addEventListener("change", function () {
      boxes.forEach(function (b) {
        b.checked = all.checked;
      });
    });
  }
  // Buttons that act on many patients ask first: <button data-confirm="...">.
  document.querySelectorAll("button[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (e) {
      if (!window.confirm(button.getAttribute("data-confirm"))) {
        e.preventDefault();
      }
    });
  });
  // A running bulk job: poll its progress and show the summary when it ends.
  var job = document.getElementById("job");
  if (!job || job.getAttribute("data-job-status") !== "running") {
    return;
  }
  var url = job.getAttribute("data-progress-url");
  var bar = document.getElementById("job-progress");
  var counts = document.getElementById("job-counts");
  var refresh = document.getElementById("job-refresh");
  if (refresh && refresh.parentNode) {
    refresh.parentNode.textContent = "The work goes on even if you leave this page. This page updates by itself.";
  }
  function render(p) {
    bar.max = p.total > 0 ? p.total : 1;
    bar.value = p.total > 0 ? p.processed : 1;
    bar.textContent = Math.floor((100 * bar.value) / bar.max) + "%";
    counts.textContent =
      p.processed + " of " + p.total + " patients processed: " + p.enabled + " enabled, " + p.sent +
      " invited, " + p.skipped + " skipped.";
  }
  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) {
          throw new Error("progress unavailable");
        }
        return r.json();
      })
      .then(function (p) {
        render(p);
        if (p.status === "running") {
          window.setTimeout(poll, 1000);
        } else {
          // The page itself shows the summary, with the reasons in words.
          window.location.reload();
        }
      })
      .catch(function () {
        window.setTimeout(poll, 5000);
      });
  }
  window.setTimeout(poll, 500);
})();
