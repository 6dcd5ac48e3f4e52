"""docs/warehouse.md is the catalog as the code defines it: regenerated here, it must not
differ (a table added, a column renamed or a view changed without `spotify-assets catalog docs`
fails), and every table and view of the graph is in it."""

import re

from spotify_assets import dictionary
from spotify_assets.defs.catalog_map import table_specs
from spotify_assets.defs.resources import DEFS_DIR
from spotify_assets.lib.catalog import load_view_sql


def test_the_data_dictionary_is_up_to_date() -> None:
    written = dictionary.DOC_PATH.read_text()
    assert written == dictionary.render(), (
        "docs/warehouse.md is out of date: run `spotify-assets catalog docs` and commit it"
    )


def test_it_lists_every_table_and_view_with_its_columns() -> None:
    text = dictionary.DOC_PATH.read_text()
    headings = set(re.findall(r"^### (\S+)$", text, flags=re.M))
    tables = {f"{m.domain}.{name}" for name, m in table_specs().items()}
    views = {f"{v.schema}.{name}" for name, v in load_view_sql(DEFS_DIR).items()}
    assert tables | views | {"main.warehouse_snapshot"} == headings
    for name, mapped in table_specs().items():
        section = text.split(f"### {mapped.domain}.{name}\n", 1)[1].split("\n### ", 1)[0]
        for column in mapped.spec.columns:
            assert f"| `{column.name}` |" in section, (name, column.name)
        assert "```sql" in section  # an example query, run against the catalog when rendered


def test_a_new_table_shows_up_as_a_difference(monkeypatch) -> None:
    import pyarrow as pa

    from spotify_assets.defs import catalog_map
    from spotify_assets.lib.lake import Column, TableSpec

    extra = TableSpec("brand_new", "One row per test.", [Column("x", pa.int64(), "a number")])
    specs = dict(table_specs())
    specs["brand_new"] = catalog_map.MappedTable("listening", extra, "spotify_assets.defs.x")
    monkeypatch.setattr(dictionary, "table_specs", lambda: specs)
    monkeypatch.setattr(catalog_map, "table_specs", lambda: specs)
    rendered = dictionary.render()
    assert "### listening.brand_new" in rendered
    assert rendered != dictionary.DOC_PATH.read_text()
