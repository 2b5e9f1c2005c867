"""The package version, in a module of its own so that any part can name it without importing the root
package (whose lazy `Client` export would otherwise count as an import of the client)."""

__version__ = "0.1.0"
