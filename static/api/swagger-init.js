"use strict";
// Starts Swagger UI on /api/v1/docs/ from a file, since the CSP allows no inline script.
// Writes made from "Try it out" with the browser session carry the page's CSRF token.
(function () {
  const root = document.getElementById("swagger-ui");
  const csrfToken = root.dataset.csrfToken;
  window.SwaggerUIBundle({
    url: root.dataset.schemaUrl,
    dom_id: "#swagger-ui",
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    requestInterceptor: function (request) {
      if (!["GET", "HEAD", "OPTIONS"].includes(request.method)) {
        request.headers["X-CSRFToken"] = csrfToken;
      }
      return request;
    },
  });
})();
