// Starts Swagger UI on /api/docs. A file of its own, not an inline script: the pages' CSP
// (script-src 'self') allows no inline script, on this page as on the others.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    showExtensions: true,
  });
});
