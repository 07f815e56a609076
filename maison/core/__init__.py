"""The règles socles every service stands on: configuration, storage, audit, identifiers, codes, errors."""
