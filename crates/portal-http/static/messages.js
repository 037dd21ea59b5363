// The staff messaging pages: small conveniences on top of pages that work without this file.
(function () {
  "use strict";

  // New Message: choosing a type reloads the form for it at once (without script, the
  // "Change type" button does).
  document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
    var button = form.querySelector("[data-autosubmit-button]");
    if (button) {
      button.hidden = true;
    }
    form.querySelectorAll("input[type=radio]").forEach(function (radio) {
      radio.addEventListener("change", function () {
        form.submit();
      });
    });
  });

  // Send forms: the button says that the message is on its way and is not pressed twice. The
  // form's idempotency key already makes a second submission harmless; this only saves the wait.
  document.querySelectorAll("form[data-send-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (button) {
        button.disabled = true;
        button.setAttribute("aria-busy", "true");
      }
    });
  });
  // Coming back with the browser's Back button shows the page as it was left: usable again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-send-once] button[type=submit]").forEach(function (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    });
  });

  // A long list of colleagues gets a filter box above it.
  document.querySelectorAll(".recipient-list").forEach(function (list) {
    var boxes = Array.prototype.slice.call(list.querySelectorAll(".recipient"));
    if (boxes.length < 8) {
      return;
    }
    var id = "recipient-filter";
    var wrap = document.createElement("div");
    wrap.className = "recipient-filter";
    var label = document.createElement("label");
    label.setAttribute("for", id);
    label.textContent = list.getAttribute("data-filter-label") || "Filter";
    var input = document.createElement("input");
    input.type = "search";
    input.id = id;
    input.autocomplete = "off";
    wrap.appendChild(label);
    wrap.appendChild(input);
    list.parentNode.insertBefore(wrap, list);
    input.addEventListener("input", function () {
      var term = input.value.trim().toLowerCase();
      boxes.forEach(function (box) {
        var name = box.textContent.toLowerCase();
        // Ticked names stay visible, so that a choice is never hidden by the filter.
        var ticked = box.querySelector("input").checked;
        box.hidden = term !== "" && name.indexOf(term) < 0 && !ticked;
      });
    });
    // Enter in the filter must not send the message.
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter") {
        e.preventDefault();
      }
    });
  });

  // A thread opens at its first new message when there is one below the fold.
  if (!window.location.hash) {
    var firstNew = document.querySelector(".message.unread");
    if (firstNew && firstNew.getBoundingClientRect().top > window.innerHeight) {
      firstNew.scrollIntoView({ block: "start" });
    }
  }
})();
