"""Human studies built from a results folder (``rdpbench study ...``): 2AFC preferences and boosted
triplet comparisons on a JND scale.

Modules, one job each:

- :mod:`.design`   ``study create``: choose trials from a results folder, write the immutable study folder.
- :mod:`.storage`  the answers database (``responses.sqlite``, SQLite in WAL mode).
- :mod:`.session`  what a rater sees next and how an answer is checked and recorded; the web app,
  the static export's import and the simulated raters all go through it.
- :mod:`.webapp`   ``study serve``: the rater web app (Starlette, served by uvicorn).
- :mod:`.platform` ``study serve --platform``: crowd platforms' URL parameters, salted participant hashes,
  the completion hand-off.
- :mod:`.consent`  the consent and instruction pages (Markdown in the study folder, raw HTML escaped).
- :mod:`.practice` practice trials, kept out of the answers.
- :mod:`.power`    ``study power``: raters needed for a target SE or effect, by simulation on throw-away copies.
- :mod:`.static`   ``study export-static`` / ``study import``: the serverless variant.
- :mod:`.analysis` statistics: GC preferences, Wilson CIs, sign tests, Elo, Bradley–Terry, 50% crossings,
  metric agreement.
- :mod:`.intervals` bootstrap intervals over raters and images (crossed) of the derived claims.
- :mod:`.breakdowns` per-image, per-position and left/right tables.
- :mod:`.figures`  the figures of ``study analyze`` (GC Fig. 5, HiFiC Fig. 3 style).
- :mod:`.page`     ``study analyze``: tables (CSV, Markdown, LaTeX), figures and ``index.html``.
- :mod:`.jnd`      boosted triplet studies: the Thurstonian scale in JND units (``jnd_scale.csv``).
- :mod:`.simulate` synthetic raters (power analysis, tests).
- :mod:`.cli`      the ``rdpbench study`` argument parser.
"""

# The designs of ``study create`` (described in :mod:`.design`).
DESIGNS = ("round-robin", "anchor-ladder", "matched-bitrate", "triplet")
