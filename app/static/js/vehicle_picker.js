// Searchable vehicle popup of the vehicle forms (seed 000 §4.4.2): own vehicles by plate.
(function () {
  var button = document.getElementById("pick-vehicle");
  if (!button) return;
  var panel = document.getElementById("vehicle-picker");
  var search = document.getElementById("vehicle-search");
  var results = document.getElementById("vehicle-results");
  var none = document.getElementById("vehicle-none");
  var timer = null;

  function load() {
    fetch(button.dataset.url + "&q=" + encodeURIComponent(search.value), {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (rows) {
        results.textContent = "";
        none.classList.toggle("hidden", rows.length > 0);
        rows.forEach(function (v) {
          var tr = document.createElement("tr");
          [v.plate, v.brand + " " + v.model, v.state].forEach(function (text) {
            var td = document.createElement("td");
            td.textContent = text;
            tr.appendChild(td);
          });
          tr.className = "vehicle-choice";
          tr.dataset.id = v.id;
          tr.addEventListener("click", function () {
            // Reload the form for this vehicle (a change form is prefilled from it).
            window.location = button.dataset.formUrl + "?vehicle=" + v.id;
          });
          results.appendChild(tr);
        });
      });
  }
  button.addEventListener("click", function () {
    panel.classList.toggle("hidden");
    if (!panel.classList.contains("hidden")) { search.focus(); load(); }
  });
  search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(load, 250);
  });
})();
