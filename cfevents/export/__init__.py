"""The export engine (keyset paging, min-age, batches) and its checkpoint file."""
