"""A Sphinx extension of the book's own: each page loads every script once.

Inline scripts that extensions add while the documents are read (sphinx-thebe's
`const THEBE_JS_URL = …`, sphinx-togglebutton's settings) reach each page twice in this Sphinx /
Jupyter Book combination; a second `const` declaration is a JavaScript error on every page load.
"""

from __future__ import annotations


def drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    """Keep the first of identical script entries (same file, same attributes and inline body)."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        # an inline script arrives once with filename None and once with "": the same script
        key = repr((script.filename or "", sorted((k, str(v)) for k, v in script.attributes.items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
