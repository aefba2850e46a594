"""The pipeline's workers: each decodes a record, calls one pure stage and encodes what it found."""
