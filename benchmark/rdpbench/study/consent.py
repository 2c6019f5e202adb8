"""The texts a participant reads in the web app: the consent page and the instructions, from
``STUDY/consent.md`` and ``STUDY/instructions.md`` (Markdown, edited by the lab), and the end pages.

``study create`` writes editable defaults (:func:`write_defaults`) that state the estimated duration
(``(trials + practice) * SECONDS_PER_TRIAL`` plus ``READING_MINUTES``, rounded up to whole minutes),
the viewing conditions (a window of at least ``MIN_WINDOW`` CSS pixels, browser zoom at 100 %, an
arm's length from the screen) and what is stored. A study without the files (made before them) is
served with the same defaults.

A study folder is untrusted input, so the Markdown is rendered (``markdown``) with raw HTML *escaped*,
not passed through (its block and inline HTML handlers are removed), and every link or image address
other than ``http:``, ``https:``, ``mailto:`` or a relative one, as a browser reads it (character
references decoded: ``&#106;avascript:`` is ``javascript:``), is dropped, and so is every image address
that leads off the study's server (``https:``, ``//host``: a remote picture would tell its host each
participant's IP address). The
files are read through the path rule (a link leading out of the study is refused) and at most
``MAX_BYTES`` each.
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path
from xml.etree.ElementTree import Element

import markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

from rdpbench.safe_paths import UnsafePathError, inside
from rdpbench.study.design import StudyError

CONSENT_NAME = "consent.md"
INSTRUCTIONS_NAME = "instructions.md"
MAX_BYTES = 1 << 20
SECONDS_PER_TRIAL = 8      # stated in the default texts: a look at three pictures and a key press
READING_MINUTES = 2        # consent and instructions
MIN_WINDOW = (1280, 720)   # CSS px: three panels with captions and buttons (the rater page checks it)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")  # a URL's scheme (WHATWG URL), if it has one
_SAFE_SCHEMES = ("http:", "https:", "mailto:")


class _SafeAddresses(Treeprocessor):
    def run(self, root: Element) -> None:
        for element in root.iter():
            for attribute, safe in (("href", _safe_address), ("src", _local_address)):
                value = element.get(attribute)
                if value is not None and not safe(value):
                    del element.attrib[attribute]


def _safe_address(value: str) -> bool:
    """Whether a link or image address is http(s), mailto or relative as a browser reads it: character
    references decoded (``&#106;avascript:`` is ``javascript:``), then control characters and spaces
    dropped (a URL parser drops tabs and newlines anywhere)."""
    cleaned = re.sub(r"[\x00-\x20]", "", html.unescape(value))
    scheme = _SCHEME.match(cleaned)
    return scheme is None or scheme.group().lower() in _SAFE_SCHEMES


def _local_address(value: str) -> bool:
    """Whether an image address stays on the study's own server (relative, no scheme, not ``//host``):
    a picture from elsewhere would tell a third party every participant's IP address."""
    cleaned = re.sub(r"[\x00-\x20]", "", html.unescape(value)).replace("\\", "/")
    return _SCHEME.match(cleaned) is None and not cleaned.startswith("//")


class _Untrusted(Extension):
    """Raw HTML is text, and only harmless link addresses survive."""

    def extendMarkdown(self, md) -> None:
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        # after Markdown's "unescape" (priority 0): addresses as written, backslash escapes resolved
        md.treeprocessors.register(_SafeAddresses(md), "safe_addresses", -1)


def render(text: str) -> str:
    """HTML of untrusted Markdown ``text``: raw HTML escaped, unsafe link addresses dropped."""
    return markdown.markdown(text, extensions=[_Untrusted()], output_format="html")


def estimated_minutes(trials: int, practice: int) -> int:
    return math.ceil((trials + practice) * SECONDS_PER_TRIAL / 60) + READING_MINUTES


def default_consent(design: dict, practice: int) -> str:
    trials = len(design["trials"])
    width, height = MIN_WINDOW
    return f"""# Image comparison study

You are invited to take part in a study of image quality. On each screen you see an original picture
and two compressed versions of it, and choose the one closer to the original.

**Duration**: about {estimated_minutes(trials, practice)} minutes ({trials} picture pairs and {practice}
practice pairs at about {SECONDS_PER_TRIAL} seconds each, plus {READING_MINUTES} minutes to read).

**Viewing conditions**: a computer (not a phone) with a browser window of at least {width} × {height}
pixels, the browser's zoom at 100 % (Ctrl+0 resets it), sitting at a normal distance (about an arm's
length) in a room without glare on the screen.

**What is stored**: your answers (which side you chose), how long each took and when, under a random
id. If you come from a crowd platform, your platform id is stored only as a one-way salted hash (so you
can resume and cannot be counted twice); no name, e-mail or other personal data is asked or stored.

Taking part is voluntary; you may stop at any time by closing the page.

*Edit this text in `{CONSENT_NAME}` in the study folder (contact details, payment, ethics approval).*
"""


def default_instructions() -> str:
    return """Each screen shows an **original** picture in the middle and two compressed versions of it, one on
each side. Choose the side that looks **closer to the original**. There are no right answers except on
a few check screens; take the time you need. Screens marked **Practice** come first and are not
counted. Your answers are saved as you go: if you close the page, open the same link again to continue.

**Keys**: ← or 1: left is closer · → or 2: right is closer · F: flip (show the original in place of
both sides; press again to flip back; no answers while flipped) · Z or a click on a picture: zoom 1:1,
2:1, 4:1 at the clicked point · mouse wheel or drag: move all three pictures together. The buttons
work too.
"""


def write_defaults(folder: Path, design: dict, practice: int) -> list[Path]:
    """Write the default ``consent.md`` and ``instructions.md`` into a new study folder (editable)."""
    written = []
    for name, text in ((CONSENT_NAME, default_consent(design, practice)),
                       (INSTRUCTIONS_NAME, default_instructions())):
        path = Path(folder) / name
        if not path.exists():
            path.write_text(text)
            written.append(path)
    return written


def _read(folder: Path, name: str) -> str | None:
    try:
        path = inside(folder, name, "study text")
    except UnsafePathError as error:
        raise StudyError(str(error)) from None
    if not path.exists():
        return None
    try:
        if path.stat().st_size > MAX_BYTES:
            raise StudyError(f"{path} is over {MAX_BYTES >> 20} MiB; shorten it")
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise StudyError(f"{path} is not UTF-8 text; save it as UTF-8") from None
    except OSError as error:
        raise StudyError(f"cannot read {path} ({error.strerror})") from None


def texts(folder: Path, design: dict, practice: int) -> tuple[str, str]:
    """(consent HTML, instructions HTML) of a study: its Markdown files, else the defaults."""
    consent = _read(folder, CONSENT_NAME)
    instructions = _read(folder, INSTRUCTIONS_NAME)
    return (render(consent if consent is not None else default_consent(design, practice)),
            render(instructions if instructions is not None else default_instructions()))


def page(title: str, state: str, content: str, style: str) -> str:
    """A plain page of the rater app (consent, decline, preview, a refused link): ``content`` is HTML
    made here or by :func:`render`; ``state`` goes to ``body[data-state]`` (read by the tests)."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width"><title>{html.escape(title)}</title><style>{style}</style></head>'
            f'<body data-state="{html.escape(state)}"><section id="text" class="text">{content}</section></body></html>')
