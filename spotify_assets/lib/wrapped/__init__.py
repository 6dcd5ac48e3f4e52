"""The wrapped report's rendering (charts and the HTML page), apart from Dagster: its imports
(Altair, vl-convert) are heavy and only the report asset and the CLI need them."""
