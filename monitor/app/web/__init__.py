"""The web console, served by the daemon (docs/web.md); it never imports the daemon."""
