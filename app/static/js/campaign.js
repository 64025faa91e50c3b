// Campaign editor (P15): in each question row, show the inputs that apply to its answer
// type (options for a choice, decimal places for a number, limits for numbers and dates).
// No inline script (CSP); rows added later (forms.js) are handled by delegation.
(function () {
  "use strict";

  function update(select) {
    var row = select.closest ? select.closest("[data-row]") : null;
    if (!row) { return; }
    var type = select.value;
    Array.prototype.forEach.call(row.querySelectorAll("[data-for-types]"), function (box) {
      var types = box.getAttribute("data-for-types").split(" ");
      box.classList.toggle("type-hidden", types.indexOf(type) < 0);
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-question-type]"), update);
  document.addEventListener("change", function (event) {
    if (event.target && event.target.hasAttribute &&
        event.target.hasAttribute("data-question-type")) {
      update(event.target);
    }
  });
  // A row just added by forms.js: its select has the default type.
  document.addEventListener("click", function (event) {
    var add = event.target.closest ? event.target.closest("[data-add-row]") : null;
    if (!add) { return; }
    window.setTimeout(function () {
      Array.prototype.forEach.call(document.querySelectorAll("[data-question-type]"), update);
    }, 0);
  });
})();
