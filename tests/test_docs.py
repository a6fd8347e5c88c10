"""Generated documentation stays in step with the code."""

from pathlib import Path

from management.management.commands.event_routes import events_markdown

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_docs_events_md_is_generated_from_the_registry():
    expected = events_markdown()
    actual = (DOCS / "events.md").read_text()
    assert actual == expected, "run: python manage.py event_routes --markdown > docs/events.md"
