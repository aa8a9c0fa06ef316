"""Render the example alert email to a PNG with headless Chromium, for the README.

The alert is the invented example of the golden tests (tests/unit/alerting/test_golden.py): no news text.
Run from the repository root, with Debian's chromium installed (apt-get install chromium):

    .venv/bin/python deploy/docs/render_email.py            # writes deploy/docs/alert-email.png
    .venv/bin/python deploy/docs/render_email.py --html out.html --png out.png --chromium /usr/bin/chromium
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def main() -> int:
    """Render the example email's HTML, then screenshot it with headless Chromium."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--png", type=Path, default=HERE / "alert-email.png")
    parser.add_argument("--html", type=Path, default=None, help="also keep the HTML here")
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    parser.add_argument("--size", default="780,380", help="window width,height in pixels")
    args = parser.parse_args()
    if not args.chromium:
        print("chromium not found: apt-get install chromium, or pass --chromium PATH", file=sys.stderr)
        return 2
    sys.path.insert(0, str(REPO))
    from monitor.alerting.notification import Notification
    from monitor.alerting.render import Renderer
    from monitor.alerting.view import Desk
    from tests.unit.alerting.test_golden import _summit

    renderer = Renderer(desk=Desk("en", ZoneInfo("Europe/Paris"), {"courrier": "Courrier du Lac"}))
    note = Notification("new", (_summit(),), "desk")
    page = (
        f"<div style='font: 13px sans-serif; color: #555; border-bottom: 1px solid #ddd; padding: 8px 0;'>"
        f"<b>Subject:</b> {renderer.subject(note)}</div>" + renderer.email_html(note)
    )
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(args.html or Path(tmp) / "alert.html")
        html.write_text(page, encoding="utf-8")
        subprocess.run(
            [
                args.chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={tmp}/profile",
                f"--window-size={args.size}",
                f"--screenshot={args.png.resolve()}",
                html.resolve().as_uri(),
            ],
            check=True,
            timeout=120,
        )
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
