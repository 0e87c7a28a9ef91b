// The site's MathJax 2 configuration (docs/_hooks/mathjax.py copies it to
// site/assets/mathjax/config/local.js). Pages load MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,local:
// the combined configuration of jupyter-server-mathjax (TeX input, HTML-CSS output), then this file:
// the STIX web fonts of the local copy (no system fonts looked up, no image fonts), and maths
// found in pymdownx.arithmatex's \( \) and \[ \] spans and in notebook Markdown ($ $, $$ $$).
MathJax.Hub.Config({
  TeX: { extensions: ["AMSmath.js", "AMSsymbols.js", "noErrors.js", "noUndefined.js"] },
  tex2jax: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true
  },
  "HTML-CSS": {
    availableFonts: [],
    preferredFont: null,
    webFont: "STIX-Web",
    imageFont: null,
    // MathJax measures text against a blank font that it points at about:blank, which Chromium
    // refuses (a console error) on an http page; a local() source requests nothing
    styles: { "@font-face": { "font-family": "MathJax_Blank", src: "local('MathJax_Blank')" } }
  },
  messageStyle: "none",
  showMathMenu: false,
  menuSettings: { zoom: "None" }
});
