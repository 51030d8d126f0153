"""Format readers on real files built in tmp_path, and the folder walk around them."""

from __future__ import annotations

import json

import pytest

from ragtune.data.readers import read_file, read_folder
from ragtune.io import DataError, UserError
from ragtune.resources.sample_en.make_binary_files import pdf_bytes


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def blocks(document):
    return [(b.kind, b.level, b.text) for b in document.blocks]


def test_markdown_headings_levels_lists_code_and_tables(tmp_path):
    path = write(
        tmp_path / "guide.md",
        "---\ntitle: The guide\n---\n# Top\n\nSome *emphasis* and [a link](x).\n\n## Sub\n\n- one\n- two\n\n"
        "```\ncode here\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nSetext\n------\n\ntail\n",
    )
    [document] = read_file(path)
    assert document.title == "The guide"
    assert blocks(document) == [
        ("heading", 1, "Top"),
        ("text", 0, "Some emphasis and a link."),
        ("heading", 2, "Sub"),
        ("text", 0, "one"),
        ("text", 0, "two"),
        ("text", 0, "code here"),
        ("text", 0, "a | b"),
        ("text", 0, "1 | 2"),
        ("heading", 2, "Setext"),
        ("text", 0, "tail"),
    ]
    for block in document.blocks:
        assert document.text[block.start : block.end] == block.text


def test_plain_text_paragraphs_and_title(tmp_path):
    [document] = read_file(write(tmp_path / "notes.txt", "Resetting\n\nFirst paragraph\nstill first.\n\n\nSecond."))
    assert document.title == "Resetting"
    assert [b.text for b in document.blocks] == ["Resetting", "First paragraph still first.", "Second."]
    [untitled] = read_file(write(tmp_path / "my_notes.txt", "Only one paragraph here."))
    assert untitled.title == "my notes"


def test_html_drops_boilerplate_keeps_headings_and_title(tmp_path):
    html = """<html><head><title>Page title</title><style>p{}</style></head><body>
    <header>Site header</header><nav>Menu</nav><div role="navigation">Crumbs</div>
    <form>Search box</form><script>var x;</script><noscript>Enable JS</noscript>
    <main><article><header><h1>Article</h1></header><p>Body <b>text</b><br>continues.</p>
    <aside>Promo</aside><h3>Deep</h3><ul><li><p>item</p></li></ul>
    <table><tr><td>c1</td><td>c2</td></tr></table></article></main>
    <footer>Copyright</footer></body></html>"""
    [document] = read_file(write(tmp_path / "page.html", html))
    assert document.title == "Page title"
    assert blocks(document) == [
        ("heading", 1, "Article"),
        ("text", 0, "Body text continues."),
        ("heading", 3, "Deep"),
        ("text", 0, "item"),
        ("text", 0, "c1 c2"),
    ]
    for word in ("Site header", "Menu", "Crumbs", "Search", "var x", "Enable JS", "Promo", "Copyright"):
        assert word not in document.text


def test_pdf_text_layer_per_page(tmp_path):
    path = tmp_path / "manual.pdf"
    path.write_bytes(pdf_bytes([["Page one", "Hello (world) from page one."], ["Page two", "More text."]], "Manual"))
    [document] = read_file(path)
    assert document.title == "Manual"
    assert [b.page for b in document.blocks] == [1, 2]
    assert "Hello (world) from page one." in document.blocks[0].text
    assert document.blocks[1].text.startswith("Page two")


def test_pdf_without_text_layer_is_unreadable_with_reason(tmp_path):
    (tmp_path / "scan.pdf").write_bytes(pdf_bytes([[""]], "Scan"))
    write(tmp_path / "ok.txt", "Fine text.")
    corpus = read_folder(tmp_path)
    assert corpus.files == ("ok.txt",)
    [(path, reason)] = corpus.unreadable
    assert path == "scan.pdf" and "no text layer" in reason and "\n" not in reason


def test_docx_heading_styles(tmp_path):
    import docx

    document = docx.Document()
    document.add_paragraph("Handbook", style="Title")
    document.add_paragraph("Chapter", style="Heading 1")
    document.add_paragraph("Intro text.")
    document.add_paragraph("Section", style="Heading 2")
    document.add_paragraph("Details.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "key", "value"
    document.save(str(tmp_path / "book.docx"))
    [read] = read_file(tmp_path / "book.docx")
    assert read.title == "Handbook"
    assert blocks(read) == [
        ("heading", 1, "Handbook"),
        ("heading", 1, "Chapter"),
        ("text", 0, "Intro text."),
        ("heading", 2, "Section"),
        ("text", 0, "Details."),
        ("text", 0, "key | value"),
    ]


def test_csv_rows_are_documents(tmp_path):
    path = write(tmp_path / "faq.csv", 'ID,Title,Content,extra\n7,Q one,"Answer, with comma",x\n,Q two,Second,\n,,,\n')
    one, two = read_file(path)
    assert (one.record, one.title, one.text, one.meta) == ("7", "Q one", "Answer, with comma", {"extra": "x"})
    assert (two.record, two.key) == ("3", "faq.csv:3")  # no id: the line number
    [tsv] = read_file(write(tmp_path / "t.tsv", "text\tid\nTab separated\tA\n"))
    assert (tsv.record, tsv.text) == ("A", "Tab separated")


def test_csv_without_text_column_is_one_clear_error(tmp_path):
    path = write(tmp_path / "bad.csv", "id,body\n1,hello\n")
    with pytest.raises(DataError) as error:
        read_file(path)
    message = str(error.value)
    assert str(path) in message and "'text' or 'content'" in message and "'id', 'body'" in message
    with pytest.raises(DataError, match="none of its 1 files"):
        read_folder(tmp_path)


def test_jsonl_both_schemas_and_line_numbered_errors(tmp_path):
    rows = [{"docid": "d1", "src": "s", "content": "Competition text."}, {"id": 5, "title": "T", "text": "Other."}]
    path = write(tmp_path / "docs.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n" + json.dumps({"text": "x"}))
    first, second, third = read_file(path)
    assert (first.record, first.meta, first.text) == ("d1", {"src": "s"}, "Competition text.")
    assert (second.record, second.title) == ("5", "T")
    assert third.record == "4"
    bad = write(tmp_path / "bad.jsonl", json.dumps({"docid": "a", "content": "x"}) + "\n" + json.dumps({"docid": 1}))
    with pytest.raises(DataError, match=r"bad.jsonl:2: field 'docid'"):
        read_file(bad)
    with pytest.raises(DataError, match=r":1: needs 'docid' and 'content'"):
        read_file(write(tmp_path / "odd.jsonl", json.dumps({"body": "x"})))


def test_folder_sorted_unreadable_reported_unknown_extensions_warned(tmp_path):
    write(tmp_path / "b" / "z.md", "# Z\n\nzed")
    write(tmp_path / "a.txt", "alpha")
    write(tmp_path / "b" / "y.txt", "why")
    (tmp_path / "broken.docx").write_bytes(b"not a zip")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    write(tmp_path / "x.xyz", "?")
    write(tmp_path / "y.xyz", "?")
    write(tmp_path / "data.bin", "?")
    write(tmp_path / ".hidden" / "secret.md", "# no")
    write(tmp_path / ".DS_Store", "junk")
    corpus = read_folder(tmp_path)
    assert [d.path for d in corpus.documents] == ["a.txt", "b/y.txt", "b/z.md"]
    assert corpus.ignored == {".xyz": 2, ".bin": 1}
    assert corpus.ignored_warning() == "ignored 3 files with unknown extensions: .xyz (2), .bin (1)"
    reasons = dict(corpus.unreadable)
    assert set(reasons) == {"broken.docx", "latin1.txt"}
    assert "not UTF-8" in reasons["latin1.txt"]
    assert all("\n" not in r and "Traceback" not in r for r in reasons.values())
    assert len(corpus.warnings()) == 3
    with pytest.raises(DataError, match="broken.docx"):
        read_folder(tmp_path, strict=True)


def test_missing_and_empty_folders_name_the_path(tmp_path):
    with pytest.raises(UserError, match="nowhere"):
        read_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty"):
        read_folder(tmp_path / "empty")
    write(tmp_path / "only" / "a.xyz", "?")
    with pytest.raises(DataError, match=r"only.*unknown extensions: \.xyz \(1\)"):
        read_folder(tmp_path / "only")


def test_a_single_file_is_a_corpus(tmp_path):
    corpus = read_folder(write(tmp_path / "one.md", "# One\n\ntext"))
    assert [d.path for d in corpus.documents] == ["one.md"]
