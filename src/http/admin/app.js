// Live WhatsApp-bubble preview and character counter for the review forms. The preview is
// built with text nodes only: what an editor types is never parsed as HTML. *bold*, _italic_
// and ~strikethrough~ follow the same rules as views::bubble on the server.
var STYLE = /\*([^*\n]+)\*|_([^_\n]+)_|~([^~\n]+)~/g;
function isWordChar(c) { return !!c && /[\p{L}\p{N}]/u.test(c); }
function render(target, text) {
  while (target.firstChild) target.removeChild(target.firstChild);
  var last = 0, m;
  STYLE.lastIndex = 0;
  while ((m = STYLE.exec(text)) !== null) {
    var i = m[1] !== undefined ? 1 : m[2] !== undefined ? 2 : 3;
    var inner = m[i];
    var before = text.slice(0, m.index).slice(-1), after = text.charAt(m.index + m[0].length);
    if (inner.charAt(0) === " " || inner.slice(-1) === " " || isWordChar(before) || isWordChar(after)) continue;
    target.appendChild(document.createTextNode(text.slice(last, m.index)));
    var el = document.createElement(["strong", "em", "s"][i - 1]);
    el.textContent = inner;
    target.appendChild(el);
    last = m.index + m[0].length;
  }
  target.appendChild(document.createTextNode(text.slice(last)));
}
document.querySelectorAll("textarea[data-preview]").forEach(function (area) {
  var preview = document.getElementById(area.dataset.preview);
  var counter = document.getElementById(area.dataset.counter);
  var limit = parseInt(area.dataset.limit || "4096", 10);
  var target = parseInt(area.dataset.target || String(limit), 10);
  function update() {
    var n = Array.from(area.value).length;
    if (preview) render(preview, area.value);
    if (counter) {
      counter.textContent = n + " caratteri (consigliati fino a " + target + ", massimo " + limit + ")";
      counter.classList.toggle("lungo", n > target && n <= limit);
      counter.classList.toggle("troppo", n > limit);
    }
  }
  area.addEventListener("input", update);
});
// Buttons that need a second thought (Rifiuta).
document.querySelectorAll("button[data-confirm]").forEach(function (button) {
  button.addEventListener("click", function (event) {
    if (!window.confirm(button.dataset.confirm)) event.preventDefault();
  });
});
