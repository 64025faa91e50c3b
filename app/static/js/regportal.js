// Small behaviours without inline script (the CSP forbids it).
(function () {
  var img = document.getElementById("captcha-img");
  if (img) {
    img.addEventListener("click", function () {
      img.src = img.src.split("?")[0] + "?t=" + Date.now();
    });
  }
})();
