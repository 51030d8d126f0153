# ruff: noqa: E501  (the sample's prose is not wrapped)
"""Writes the sample's binary documents from the text below: `documents/quick-reference.docx` (python-docx,
with Word heading styles) and `documents/safety-and-specifications.pdf` (a minimal PDF written by hand:
Helvetica text in content streams, so it has a real text layer for pypdf).

    python ragtune/resources/sample_en/make_binary_files.py

The files are committed; rerun this after editing the text. DOCX bytes carry timestamps, so
`tests/data/test_sample_en.py` compares the extracted text, not the bytes.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCX_NAME, PDF_NAME = "quick-reference.docx", "safety-and-specifications.pdf"

QUICK_REFERENCE = [
    ("Title", "Nimbus T2 quick reference"),
    ("Heading 1", "Controls"),
    (
        "Normal",
        "Turn the ring to change the target temperature. Press the face once to open the menu and again to confirm a choice. Press and hold the face for three seconds to hold the current temperature until you release it.",
    ),
    ("Heading 2", "Modes"),
    (
        "Normal",
        "Heat, Cool, Auto and Off are chosen from the Mode menu. Auto switches between heating and cooling and keeps at least two degrees between the two targets so the system never heats and cools in turn.",
    ),
    ("Normal", "Eco mode uses the eco temperatures from the app. The leaf symbol shows while the target saves energy."),
    ("Heading 2", "Status icons"),
    (
        "Normal",
        "A flame means heating is running, a snowflake cooling, a fan symbol the fan alone. A clock shows an early start in progress. A padlock means the display is locked.",
    ),
    ("Heading 1", "Maintenance"),
    (
        "Normal",
        "Clean the face with a dry cloth; never spray cleaner on the display. Replace room sensor coin cells when the app warns you. Check the furnace filter every three months and confirm the reminder in the app afterwards.",
    ),
    ("Heading 1", "Getting help"),
    (
        "Normal",
        "Support is available in the app under Help, by chat from 8 am to 8 pm on weekdays. Have the serial number and a photo of your wiring ready, as well as any error code shown on the display.",
    ),
]

SAFETY_PAGES = [
    [
        "Safety information",
        "Read these instructions before installing the thermostat. Installation must follow local building and electrical codes; if you are unsure, hire a qualified heating technician.",
        "Always switch off power to the heating and cooling system at the breaker before removing the old thermostat or touching any wire. Never connect the T2 to line voltage (120 V or 240 V): it is designed for 24 V control circuits only and connecting mains power destroys it and may cause fire.",
        "The thermostat is for indoor use in dry rooms. Do not install it in bathrooms, above a kettle or where it can get wet. Keep the magnetic face plate away from pacemakers and other implanted medical devices by at least 15 cm.",
    ],
    [
        "Technical specifications",
        "Supply: 24 V AC, 50 or 60 Hz, from the R and C terminals, or through the Nimbus Link. Power use: below 1.5 W while the display is dimmed.",
        "Wireless: Wi-Fi 802.11 b/g/n at 2.4 GHz, Bluetooth Low Energy 5.0 for setup, and an 868 MHz link for room sensors. Temperature accuracy: 0.2 degrees Celsius between 10 and 35 degrees. Operating range: 0 to 45 degrees Celsius, 10 to 90 percent relative humidity, non-condensing.",
        "Dimensions: 84 mm across and 24 mm deep on its base. Weight: 160 g. The product complies with the EU Radio Equipment Directive; the declaration of conformity is available at the address printed on the box.",
    ],
]


def write_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = "Nimbus T2 quick reference"
    for style, text in QUICK_REFERENCE:
        document.add_paragraph(text, style=style)
    document.save(str(path))


def _pdf_string(text: str) -> str:
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def _page_stream(paragraphs: list[str]) -> bytes:
    """Text drawn top-down: a 14 pt heading, then 11 pt paragraphs wrapped at 90 characters."""
    lines = ["BT", "/F1 14 Tf", "72 760 Td", f"{_pdf_string(paragraphs[0])} Tj", "/F1 11 Tf", "0 -28 Td"]
    for paragraph in paragraphs[1:]:
        for line in textwrap.wrap(paragraph, 90):
            lines += [f"{_pdf_string(line)} Tj", "0 -14 Td"]
        lines.append("0 -10 Td")
    lines.append("ET")
    return "\n".join(lines).encode("latin-1")


def pdf_bytes(pages: list[list[str]], title: str) -> bytes:
    """A minimal PDF 1.4: catalog, page tree, Helvetica, one content stream per page, an info title."""
    count = len(pages)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for i, page in enumerate(pages):
        stream = _page_stream(page)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(f"<< /Title {_pdf_string(title)} /Producer (ragtune sample) >>".encode("latin-1"))
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\n" % (len(objects) + 1, len(objects))
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def write_pdf(path: Path) -> None:
    path.write_bytes(pdf_bytes(SAFETY_PAGES, "Nimbus T2 safety and specifications"))


def main(folder: Path = HERE / "documents") -> None:
    write_docx(folder / DOCX_NAME)
    write_pdf(folder / PDF_NAME)


if __name__ == "__main__":
    main()
