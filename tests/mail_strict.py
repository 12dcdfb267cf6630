"""Read a raw email as a strict mail client does: no header decoding (compat32), Content-IDs taken byte for byte.

`policy.default` decodes RFC 2047 encoded-words, so a folded, encoded Content-ID looks fine to it while a client
that matches `cid:` against the raw header shows a broken image."""

from __future__ import annotations

import email
from email import policy


def inline_images_resolve(raw: bytes) -> list[str]:
    """Assert every inline image's Content-ID is one short ASCII line that the HTML's `cid:` names exactly;
    return the Content-IDs."""
    for i, line in enumerate(lines := raw.split(b"\r\n") if b"\r\n" in raw else raw.split(b"\n")):
        if line.lower().startswith(b"content-id:"):
            assert len(line) <= 78, f"Content-ID header line of {len(line)} characters: {line!r}"
            assert not lines[i + 1][:1].isspace(), f"Content-ID header folded: {line!r} {lines[i + 1]!r}"
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    html = next(p for p in msg.walk() if p.get_content_type() == "text/html")
    body = html.get_payload(decode=True)
    assert isinstance(body, bytes)
    text = body.decode(html.get_content_charset() or "utf-8")
    cids = []
    for part in msg.walk():
        if part.get_content_maintype() != "image":
            continue
        cid = part["Content-ID"]
        assert isinstance(cid, str) and cid.isascii() and "=?" not in cid, cid
        assert cid.startswith("<") and cid.endswith(">"), cid
        assert f'src="cid:{cid[1:-1]}"' in text, f"no <img> for {cid}"
        cids.append(cid)
    return cids
