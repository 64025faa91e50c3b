// The 【选择】 popup of the power registration and "my information" forms (seed 002 §3.1-3.2):
// search registered enterprises by name (names only, 10 a page), pick one, 确定 puts its id in
// the hidden parent_id field and its name in the read-only box; 取消 closes without change.
// The server checks the posted id. No inline script (CSP).
(function () {
  "use strict";
  var group = document.querySelector("[data-parent-picker]");
  var modal = document.getElementById("parent-modal");
  if (!group || !modal) { return; }
  var url = group.getAttribute("data-search-url");
  var hidden = document.getElementById("parent_id");
  var shown = document.getElementById("parent-name");
  var search = document.getElementById("parent-search");
  var go = document.getElementById("parent-search-go");
  var results = document.getElementById("parent-results");
  var none = document.getElementById("parent-none");
  var error = document.getElementById("parent-error");
  var prev = document.getElementById("parent-prev");
  var next = document.getElementById("parent-next");
  var pageLabel = document.getElementById("parent-page");
  var ok = document.getElementById("parent-ok");
  var clear = group.querySelector("[data-parent-clear]");
  var page = 0;
  var query = "";
  var chosen = null;

  function choose(item, button) {
    chosen = item;
    Array.prototype.forEach.call(results.querySelectorAll(".active"), function (b) {
      b.classList.remove("active");
      b.setAttribute("aria-selected", "false");
    });
    button.classList.add("active");
    button.setAttribute("aria-selected", "true");
    ok.disabled = false;
  }

  function show(data) {
    results.textContent = "";
    error.classList.add("hidden");
    none.classList.toggle("hidden", data.items.length > 0);
    data.items.forEach(function (item) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "list-group-item parent-choice";
      button.setAttribute("role", "option");
      button.setAttribute("aria-selected", "false");
      button.dataset.id = String(item.id);
      button.textContent = item.name;
      button.addEventListener("click", function () { choose(item, button); });
      button.addEventListener("dblclick", function () { choose(item, button); ok.click(); });
      results.appendChild(button);
    });
    page = data.page;
    prev.disabled = !data.has_previous;
    next.disabled = !data.has_next;
    pageLabel.textContent = String(page + 1);
  }

  function load(toPage) {
    chosen = null;
    ok.disabled = true;
    var address = url + "?q=" + encodeURIComponent(query) + "&page=" + String(toPage);
    fetch(address, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) {
        return r.json().then(function (body) { return {ok: r.ok, status: r.status, body: body}; });
      })
      .then(function (answer) {
        if (!answer.ok) {
          results.textContent = "";
          error.textContent = (answer.body && answer.body.message) || String(answer.status);
          error.classList.remove("hidden");
          return;
        }
        show(answer.body);
      })
      .catch(function () {
        error.textContent = "…";
        error.classList.remove("hidden");
      });
  }

  function runSearch() {
    query = search.value.trim();
    load(0);
  }

  go.addEventListener("click", runSearch);
  search.addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); runSearch(); }
  });
  prev.addEventListener("click", function () { if (page > 0) { load(page - 1); } });
  next.addEventListener("click", function () { load(page + 1); });
  ok.addEventListener("click", function () {
    if (!chosen) { return; }
    hidden.value = String(chosen.id);
    shown.value = chosen.name;
    if (window.jQuery) { window.jQuery(modal).modal("hide"); }
  });
  if (clear) {
    clear.addEventListener("click", function () {
      hidden.value = "";
      shown.value = "";
    });
  }
  if (window.jQuery) {
    window.jQuery(modal).on("shown.bs.modal", function () {
      search.focus();
      if (!results.children.length) { runSearch(); }
    });
  }
})();
