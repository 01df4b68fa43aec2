"""Asset Anchor: the back end of a property-management platform."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("asset-anchor")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
