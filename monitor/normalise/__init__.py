"""Text normalisation shared by every stage: HTML to text, language identification.

The ingest stage and the analysts' commands (``rules test``, ``rules evaluate``) both call this package,
so an article is read the same way wherever it comes from.
"""

from monitor.normalise.article import with_language
from monitor.normalise.html import html_to_text
from monitor.normalise.language import DEFAULT_CANDIDATES, detect_language, detect_text_language

__all__ = ["DEFAULT_CANDIDATES", "detect_language", "detect_text_language", "html_to_text", "with_language"]
