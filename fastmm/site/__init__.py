"""A static website of verified schemes (`fastmm site`): an index of ranks by shape and ring
with a plot, and one page per scheme with formulas, costs, provenance and code to download.

Works offline from the file system and from any static host: no CDN, no server code, a small
hand-written script. Never imports torch.
"""

from fastmm.site.builder import SiteReport, build_site

__all__ = ["SiteReport", "build_site"]
