// Form behaviours of the module pages (rental, used-car): repeating sub-table rows (premises,
// branches), captcha refresh, confirmations, print buttons. No inline script (CSP).
(function () {
  "use strict";

  function renumber(list) {
    var rows = list.querySelectorAll("[data-row]");
    for (var i = 0; i < rows.length; i++) {
      var no = rows[i].querySelector(".row-no");
      if (no) { no.textContent = String(i + 1); }
    }
  }

  var boxes = document.querySelectorAll("[data-rows]");
  Array.prototype.forEach.call(boxes, function (box) {
    var list = box.querySelector(".rows-list");
    var tpl = document.getElementById(box.getAttribute("data-template"));
    var max = parseInt(box.getAttribute("data-max") || "50", 10);
    var next = parseInt(box.getAttribute("data-next") || "1", 10);
    var add = box.querySelector("[data-add-row]");
    if (!list || !tpl || !add) { return; }
    add.addEventListener("click", function () {
      if (list.querySelectorAll("[data-row]").length >= max) { return; }
      var holder = document.createElement("div");
      holder.innerHTML = tpl.innerHTML.replace(/__index__/g, String(next)).trim();
      next += 1;
      var row = holder.firstElementChild;
      list.appendChild(row);
      renumber(list);
      var first = row.querySelector("input");
      if (first) { first.focus(); }
    });
    list.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("[data-remove-row]") : null;
      if (!button) { return; }
      var rows = list.querySelectorAll("[data-row]");
      var row = button.closest("[data-row]");
      if (rows.length <= 1) {
        // Keep one row: clear it instead.
        Array.prototype.forEach.call(row.querySelectorAll("input"), function (input) {
          input.value = "";
        });
        return;
      }
      row.parentNode.removeChild(row);
      renumber(list);
    });
  });

  // "Can't read it?" next to the captcha: a new picture (the image click does the same).
  Array.prototype.forEach.call(document.querySelectorAll("[data-captcha-refresh]"), function (b) {
    b.addEventListener("click", function () {
      var img = document.getElementById("captcha-img");
      if (img) { img.src = img.src.split("?")[0] + "?t=" + Date.now(); }
    });
  });

  Array.prototype.forEach.call(document.querySelectorAll("form[data-confirm]"), function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });

  Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
})();
