"""One module per section of an experiment page; ``xpkit.report.pages``
assembles them. Each function takes the ``ReportBuilder`` (the warehouse rows
and lookups) and returns the section's part of the page context."""
