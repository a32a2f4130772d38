// Live WhatsApp-bubble preview and character counter for the review forms. The preview is
// built with text nodes only: what an editor types is never parsed as HTML. *bold*, _italic_
// and ~strikethrough~ follow WhatsApp's rules exactly as bubble.rs does on the server (its
// tests run spans() below on the same texts): a marker opens at the start or after a
// character that is not a letter or digit, and not before a space; it closes at the first
// same marker on the line after a non-space and before the end, a space or punctuation;
// markers inside web addresses are text; a marker without a closing is text and the scan
// goes on right after it.
var TAGS = { "*": "strong", "_": "em", "~": "s" };
var URL_RE = /(?:https?:\/\/|www\.)\S+/giu;
function isWordChar(c) { return c !== undefined && /[\p{Alphabetic}\p{N}]/u.test(c); }
function isSpace(c) { return /\s/u.test(c); }
// The text as [part, tag] pairs, tag null for plain text.
function spans(text) {
  var chars = Array.from(text);
  var inUrl = chars.map(function () { return false; });
  var m;
  URL_RE.lastIndex = 0;
  while ((m = URL_RE.exec(text)) !== null) {
    var from = Array.from(text.slice(0, m.index)).length, n = Array.from(m[0]).length;
    for (var k = from; k < from + n; k++) inUrl[k] = true;
  }
  function opens(i) { return !isWordChar(chars[i - 1]) && chars[i + 1] !== undefined && !isSpace(chars[i + 1]); }
  function closes(j) { return chars[j - 1] !== undefined && !isSpace(chars[j - 1]) && !isWordChar(chars[j + 1]); }
  var out = [], last = 0, i = 0;
  while (i < chars.length) {
    var marker = chars[i], end = -1;
    if (TAGS[marker] && opens(i) && !inUrl[i]) {
      for (var j = i + 2; j < chars.length && chars[j] !== "\n"; j++) {
        if (chars[j] === marker && closes(j) && !inUrl[j]) { end = j; break; }
      }
    }
    if (end < 0) { i++; continue; }
    if (i > last) out.push([chars.slice(last, i).join(""), null]);
    out.push([chars.slice(i + 1, end).join(""), TAGS[marker]]);
    last = end + 1;
    i = end + 1;
  }
  if (last < chars.length) out.push([chars.slice(last).join(""), null]);
  return out;
}
function render(target, text) {
  while (target.firstChild) target.removeChild(target.firstChild);
  spans(text).forEach(function (part) {
    if (part[1] === null) {
      target.appendChild(document.createTextNode(part[0]));
    } else {
      var el = document.createElement(part[1]);
      el.textContent = part[0];
      target.appendChild(el);
    }
  });
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
      counter.textContent = n + (n === 1 ? " carattere" : " caratteri") + " (consigliati fino a " + target + ", massimo " + limit + ")";
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
