"""The interactive HTML report, opened in a real browser (headless Chromium, Debian's package, driven by Selenium
through Debian's chromedriver): what it renders, its hover text, the edge slider and the search, for runs from a
real server. A screenshot of each page is written beside the report (tests look at numbers; a person at it)."""
import json
import os
import pathlib
import shutil

import pytest

import patchbay

PAIR = patchbay.Pair("When Mary and John went to the store, John gave a drink to",
                     "When Mary and John went to the store, Mary gave a drink to", answer=" Mary", wrong=" John")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("the report's browser test needs Debian's chromium and chromium-driver (.ci/run installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # The browser's network log: the report must fetch nothing when viewed.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1200,1400"):
        options.add_argument(flag)
    from selenium.webdriver.chrome.service import Service

    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def client(server_address):
    with patchbay.Client(server_address) as c:
        yield c


def fetched(browser) -> list[str]:
    """The addresses the page asked for since the last call, from the browser's network log."""
    out = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            out.append(message["params"]["request"]["url"])
    return out


def hover(browser, chart_id, x, y):
    """The mouse at pixel (x, y) of a chart (from its top left), as a person would move it."""
    from selenium.webdriver.common.action_chains import ActionChains

    chart = browser.find_element("id", chart_id)
    ActionChains(browser).move_to_element_with_offset(
        chart, int(x - chart.size["width"] / 2), int(y - chart.size["height"] / 2)).perform()


def data_of(path):
    text = pathlib.Path(path).read_text()
    start = text.index('<script id="patchbay-data" type="application/json">') + len(
        '<script id="patchbay-data" type="application/json">')
    return json.loads(text[start:text.index("</script>", start)])


def test_an_edge_report_draws_the_graph_with_a_slider_search_and_hover(client, browser, tmp_path):
    run = client.attribute_edges("tiny-gpt2", PAIR, method="atp-star", verify_top_k=5, diagnostic=True)
    path = run.to_html(tmp_path / "edges.html")
    data = data_of(path)
    assert data["magnitudes"] and data["method"] == "atp-star"
    assert len(data["edges"]) == min(2000, run.to_dataframe().shape[0])
    browser.get_log("performance")  # what came before this page
    browser.get(pathlib.Path(path).as_uri())
    assert fetched(browser) == [pathlib.Path(path).as_uri()], "the report fetches nothing beyond itself"
    assert browser.title == data["title"]
    assert "atp-star" in browser.find_element("id", "metadata").text
    shown = browser.execute_script("return window.patchbayReport.shownEdges()")
    assert shown == [e["name"] for e in data["edges"][:30]]
    arrows = browser.execute_script("return document.querySelectorAll('#graph svg path').length")
    # The slider: fewer edges shown, fewer drawn.
    browser.execute_script("const s = document.getElementById('threshold'); s.value = 5;"
                           "s.dispatchEvent(new Event('input'))")
    assert browser.execute_script("return window.patchbayReport.shownEdges()") == shown[:5]
    assert browser.find_element("id", "shown").text == f"5 of {len(data['edges'])}"
    assert browser.execute_script("return document.querySelectorAll('#graph svg path').length") < arrows
    # Search by name.
    search = browser.find_element("id", "search")
    search.send_keys(shown[0].split("->")[0])
    found = browser.find_element("id", "found").text
    assert found.startswith(f"{sum(shown[0].split('->')[0] in n for n in shown[:5])} shown edges match"), found
    # Hover: the tooltip of the top edge names it with its score and, verified, its patched effect.
    top = data["edges"][0]
    # The mouse on the middle of the top edge's curve (a quadratic from writer to reader through its control point).
    x, y = browser.execute_script(
        "const g = window.patchbayReport.graph;"
        "const [a, b, c] = g.getModel().getSeriesByIndex(0).getEdgeData().getItemLayout(0);"
        "const mid = c ? [0.25 * a[0] + 0.5 * c[0] + 0.25 * b[0], 0.25 * a[1] + 0.5 * c[1] + 0.25 * b[1]]"
        "              : [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];"
        "return g.convertToPixel({seriesIndex: 0}, mid)")
    hover(browser, "graph", x, y)
    tip = browser.find_element("id", "graph").text
    assert top["name"] in tip and "rank: 1" in tip, tip
    assert ("verified effect" in tip) == (top["verified_effect"] is not None), tip
    # Verification and the diagnostic.
    verified = browser.find_element("id", "verified").text
    assert all(e["name"] in verified for e in data["edges"] if e["verified_effect"] is not None)
    assert "largest upper bound" in browser.find_element("id", "diagnostic").text
    browser.save_screenshot(str(tmp_path / "edges.png"))


def test_a_node_report_draws_the_head_heatmap_with_hover_values(client, browser, tmp_path):
    run = client.attribute("tiny-gpt2", PAIR, method="atp-star", nodes="heads", verify_top_k=3).collect()
    path = run.to_html(tmp_path / "heads.html")
    data = data_of(path)
    browser.get(pathlib.Path(path).as_uri())
    cells = browser.execute_script(
        "return window.patchbayReport.heads.getOption().series[0].data.map(d => d.value)")
    heads = [n for n in data["nodes"] if n["site"] == "z"]
    assert sorted(map(tuple, cells)) == sorted((n["unit"], n["layer"], n["estimate"]) for n in heads)
    # Hover over the top head's cell with the mouse: the tooltip gives its score and verified effect.
    top = data["nodes"][0]
    x, y = browser.execute_script(
        "return window.patchbayReport.heads.convertToPixel({seriesIndex: 0}, arguments[0])",
        [top["unit"], top["layer"]])
    hover(browser, "heads", x, y)
    tip = browser.find_element("id", "heads").text
    assert top["name"] in tip and "verified effect" in tip, tip
    assert browser.find_element("id", "graph-section").is_displayed() is False
    browser.save_screenshot(str(tmp_path / "heads.png"))
