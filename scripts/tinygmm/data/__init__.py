"""Reading the training CSV: ``reader`` (load_csv, Dataset, the reference reader), ``csvfast`` (the pandas fast
path) and ``rules`` (what both readers share: decoding, records, what a numeric cell may look like)."""
