// The site's MathJax 2 configuration (docs/_hooks/mathjax.py copies it to
// site/assets/mathjax/config/local.js): TeX in, SVG out (glyphs drawn as paths, no web font),
// maths found in pymdownx.arithmatex's \( \) and \[ \] spans and in notebook Markdown ($ $, $$ $$).
MathJax.Hub.Config({
  jax: ["input/TeX", "output/SVG"],
  extensions: ["tex2jax.js"],
  TeX: { extensions: ["AMSmath.js", "AMSsymbols.js", "noErrors.js", "noUndefined.js"] },
  tex2jax: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true
  },
  SVG: { font: "STIX-Web" },
  messageStyle: "none",
  showMathMenu: false,
  menuSettings: { zoom: "None" }
});
