"""The web console: server-rendered pages over the same services, roles and audit as the API
(docs/console.md). `install.install_console(app)` puts it on the app; this package imports
nothing itself, so its modules can import `mdm_server.console.sessions` from anywhere."""
