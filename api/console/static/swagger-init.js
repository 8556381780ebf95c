// Starts Swagger UI on /api/docs (a file, not an inline script: the page's CSP allows
// scripts from this server only). The OpenAPI document's URL is on the container.
window.addEventListener("load", function () {
  "use strict";
  var container = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: container.getAttribute("data-openapi"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
