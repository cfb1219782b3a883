"""Running a trained pipeline on users' texts: the JSONL records, files (local, Ray) and an HTTP service."""
