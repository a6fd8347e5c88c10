"""Generated documentation stays in step with the code."""

from pathlib import Path

from management.management.commands.event_routes import events_markdown

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_docs_events_md_is_generated_from_the_registry():
    expected = events_markdown()
    actual = (DOCS / "events.md").read_text()
    assert actual == expected, "run: python manage.py event_routes --markdown > docs/events.md"


README = (DOCS.parent / "README.md").read_text()


def test_readme_points_only_at_files_in_the_repository():
    assert "CONTRACT.md" not in README
    assert "/api/openapi.json" in README and "/api/docs/" in README


def test_readme_layout_names_every_module():
    layout = README.split("## Layout", 1)[1]
    modules = [p.name for p in (DOCS.parent / "hm_core").iterdir() if (p / "__init__.py").is_file()]
    missing = [m for m in modules if m not in layout]
    assert not missing, f"README's Layout misses {missing}"


def test_readme_walkthroughs_follow_the_port():
    assert "export HM=http://127.0.0.1:${PORT:-8000}" in README
    assert "export HM=http://127.0.0.1:8000\n" not in README
    assert "make run PORT=8001" in README
