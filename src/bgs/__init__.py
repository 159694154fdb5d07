"""bgs — behavioral geometric supervision.

Measure how well a model's embedding geometry matches human odd-one-out similarity
judgments (against the noise ceiling of those judgments), and fine-tune models with
behavioral supervision.
"""

from bgs.errors import BGSError

__version__ = "0.1.0"

__all__ = ["BGSError", "__version__"]
