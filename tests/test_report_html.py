"""The page toolkit: what counts as loading from outside, alignment, folding, links and print."""

from __future__ import annotations

import pandas as pd

from research.reporting.html import (
    Section,
    external_references,
    folded,
    page,
    table,
    worst_light,
)


def test_links_a_reader_follows_load_nothing_but_sources_do():
    document = (
        '<a href="../index.html">front</a><a href="shap.html">shap</a><a href="#top">top</a>'
        '<a href="http://127.0.0.1:5000/#/experiments/1/runs/abc">run</a>'
        '<img src="data:image/png;base64,AAAA">'
    )
    assert external_references(document) == []
    outside = (
        '<a href="https://example.org/x">x</a><img src="chart.png">'
        '<script src="https://cdn.example/vega.js"></script><link href="style.css" rel="stylesheet">'
        "<style>body { background: url(http://example.org/bg.png) }</style>"
    )
    assert external_references(outside) == [
        "https://example.org/x",
        "chart.png",
        "https://cdn.example/vega.js",
        "style.css",
        "http://example.org/bg.png",
    ]
    # relative sources are allowed only when asked (a folder copied as a whole)
    assert external_references(outside, allow_relative=True) == [
        "https://example.org/x",
        "https://cdn.example/vega.js",
        "http://example.org/bg.png",
    ]


def test_text_is_left_aligned_numbers_right_and_badges_centred():
    frame = pd.DataFrame(
        {
            "feature": ["utilisation", "tenure"],
            "csi": [0.31, 0.02],
            "share": ["12.5%", "3.0%"],
            "light": ['<span class="light">red</span>', '<span class="light">green</span>'],
        }
    )
    html = table(frame, raw_html_columns=["light"])
    assert '<th class="text">feature</th><th class="num">csi</th><th class="num">share</th>' in html
    assert '<td class="text">utilisation</td><td class="num">0.3100</td>' in html
    assert '<td class="num">12.5%</td><td class="badge">' in html


def test_a_long_table_shows_its_top_rows_and_folds_the_rest():
    frame = pd.DataFrame({"feature": [f"f{i}" for i in range(30)], "csi": range(30)})
    html = table(frame, top=5, rest="the CSI of all 30 features")
    shown, rest = html.split("<details>", 1)
    assert shown.count("<tr>") == 1 + 5
    assert "The first 5 of 30 rows" in shown
    assert "<summary>Show the CSI of all 30 features</summary>" in rest
    assert rest.count("<tr>") == 1 + 30
    assert table(frame.head(5), top=5).count("<details>") == 0
    assert folded("<p>x</p>", "more") == "<details><summary>more</summary><p>x</p></details>"


def test_a_page_has_a_bar_of_links_a_lead_and_a_print_stylesheet():
    html = page(
        "Report",
        [Section("One", "<p>x</p>")],
        links=[("Front page", "../index.html"), ("Not built", None)],
        here="This report",
        lead='<div class="verdict red">verdict</div>',
    )
    assert '<nav class="related"' in html and 'href="../index.html"' in html
    assert "Not built" not in html
    assert html.index('class="verdict red"') < html.index('<nav class="toc">')
    assert "@media print" in html and "details::details-content" in html
    assert "<script" not in html


def test_the_overall_light_is_the_worst_present():
    assert worst_light({"green": 3, "amber": 1, "red": 0}) == "amber"
    assert worst_light({"green": 3, "amber": 1, "red": 2}) == "red"
    assert worst_light({"green": 3}) == "green"
    assert worst_light({"grey": 2}) == "grey"
