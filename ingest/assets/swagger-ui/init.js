// Starts Swagger UI on /openapi.json. A file (not an inline script) so the
// page's Content-Security-Policy can forbid inline scripts; no validator
// badge, which would call a server outside.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
    tryItOutEnabled: true,
  });
});
