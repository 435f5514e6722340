"""Thin HTTP layer: the app, error rendering and responses. Routers live with their process."""
