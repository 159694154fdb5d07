"""Pre-training of backbones that bgs builds itself (no checkpoint can be downloaded offline).

Library code: it trains models and writes ordinary ``save_pretrained`` folders; it never
imports the study floor above it.
"""
