"""Analytics built on the written lakehouse tables (DuckDB SQL over the Delta tables)."""
