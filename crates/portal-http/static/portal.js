// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // Collapsible navigation on narrow screens.
  var toggle = document.querySelector(".nav-toggle");
  var nav = document.getElementById("site-nav");
  if (toggle && nav) {
    toggle.addEventListener("click", function () {
      var open = toggle.getAttribute("aria-expanded") === "true";
      toggle.setAttribute("aria-expanded", open ? "false" : "true");
      nav.classList.toggle("open", !open);
    });
  }
  // Forms that change something privacy-relevant ask first: <form data-confirm="...">.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        e.preventDefault();
      }
    });
  });
  // Success notices can be dismissed; they are announced (role="status") when the page loads.
  var main = document.getElementById("main");
  var dismissLabel = (main && main.getAttribute("data-dismiss-label")) || "Dismiss";
  document.querySelectorAll(".notice[role=status]").forEach(function (notice) {
    var close = document.createElement("button");
    close.type = "button";
    close.className = "notice-close";
    close.setAttribute("aria-label", dismissLabel);
    close.textContent = "\u00d7";
    close.addEventListener("click", function () {
      notice.remove();
    });
    notice.appendChild(close);
  });
  // Move focus to an error summary so that screen readers announce it.
  var summary = document.querySelector(".error-summary");
  if (summary) {
    summary.focus();
  }
})();
