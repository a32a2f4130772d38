// Live WhatsApp-bubble preview and character counter for the review forms. The preview uses
// textContent only: what an editor types is never parsed as HTML.
document.querySelectorAll("textarea[data-preview]").forEach(function (area) {
  var preview = document.getElementById(area.dataset.preview);
  var counter = document.getElementById(area.dataset.counter);
  var limit = parseInt(area.dataset.limit || "4096", 10);
  function update() {
    var n = Array.from(area.value).length;
    if (preview) preview.textContent = area.value;
    if (counter) {
      counter.textContent = n + " / " + limit + " caratteri";
      counter.classList.toggle("troppo", n > limit);
    }
  }
  area.addEventListener("input", update);
  update();
});
