"""Pure format code: no Django imports, so writers and readers can be tested and reused alone."""
